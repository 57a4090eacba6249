"""Chat formatting from the tokenizer's own template, with prompt/response masks.

Which tokens are "the response" is read off the rendered template (character offsets of the
final assistant turn's content), never guessed from token counts. The system prompt can be the
template's default, replaced, or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SystemPrompt = str | None
Message = Mapping[str, str]

_SENTINEL = "\x00interp-system\x00"


def as_messages(conversation: Any, prompt_only: bool = False) -> list[dict[str, str]]:
    """Plain ``{"role", "content"}`` dicts from a message list or a record with ``messages``.

    With ``prompt_only`` a final assistant turn is dropped (what a model is asked to continue).
    """
    msgs = getattr(conversation, "messages", conversation)
    out = [dict(m) if isinstance(m, Mapping) else {"role": m.role, "content": m.content} for m in msgs]
    if prompt_only and out and out[-1]["role"] == "assistant":
        out = out[:-1]
    return out


@dataclass(frozen=True)
class Encoded:
    """One conversation as token ids, with the positions that matter.

    Attributes:
        input_ids: the whole rendered conversation.
        prompt_len: number of tokens up to and including the generation prompt
            (``prompt_len - 1`` is the last prompt token).
        response_mask: True on the tokens of the final assistant turn's content.
    """

    input_ids: tuple[int, ...]
    prompt_len: int
    response_mask: tuple[bool, ...]

    def __len__(self) -> int:
        return len(self.input_ids)


class ChatFormat:
    """Render conversations with a tokenizer's chat template and locate prompt and response tokens."""

    def __init__(self, tokenizer: Any, system_prompt: SystemPrompt = "default") -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(
                "This tokenizer has no chat template; interp formats conversations with the model's own "
                "template. Set tokenizer.chat_template (e.g. from the instruct model's tokenizer_config)."
            )
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt

    def _with_system(self, messages: Sequence[Message]) -> list[dict[str, str]]:
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        has_system = bool(msgs) and msgs[0]["role"] == "system"
        if self.system_prompt == "default" or self.system_prompt is None:
            return msgs
        if has_system:
            msgs[0] = {"role": "system", "content": self.system_prompt}
            return msgs
        return [{"role": "system", "content": self.system_prompt}, *msgs]

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        """The conversation as text, exactly as the template renders it."""
        msgs = self._with_system(messages)
        if self.system_prompt is None and not (msgs and msgs[0]["role"] == "system"):
            return self._render_without_system(msgs, add_generation_prompt)
        return str(self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt))

    def _render_without_system(self, msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
        # Templates such as SmolLM2's insert a default system turn whenever none is given.
        # Render with a sentinel system turn and cut that turn off (it is a prefix of the text).
        sentinel = [{"role": "system", "content": _SENTINEL}]
        full = str(self.tokenizer.apply_chat_template(sentinel + msgs, tokenize=False, add_generation_prompt=add_generation_prompt))
        head = str(self.tokenizer.apply_chat_template(sentinel, tokenize=False))
        if not full.startswith(head):
            raise ValueError("Cannot remove the system prompt: this chat template does not render it as a prefix.")
        # A true BOS (Llama-3's <|begin_of_text|>) opens the text once and must survive the cut;
        # a turn marker that doubles as "bos" (ChatML's <|im_start|>) recurs and must not.
        bos = self.tokenizer.bos_token or ""
        keep = bos if bos and full.startswith(bos) and full.count(bos) == 1 else ""
        return keep + full[len(head):]

    def encode(self, messages: Sequence[Message]) -> Encoded:
        """Tokenise a conversation; if it ends with an assistant turn, mark that turn as the response."""
        if not messages:
            raise ValueError("A conversation needs at least one message.")
        ends_with_response = messages[-1]["role"] == "assistant"
        prompt_msgs = messages[:-1] if ends_with_response else messages
        prompt_text = self.render(prompt_msgs, add_generation_prompt=True)
        if not ends_with_response:
            prompt_ids: list[int] = self._tokenize(prompt_text)["input_ids"]
            return Encoded(tuple(prompt_ids), len(prompt_ids), (False,) * len(prompt_ids))
        full_text = self.render(messages)
        content = messages[-1]["content"]
        start = full_text.find(content, len(prompt_text) - 1 if prompt_text else 0)
        if not full_text.startswith(prompt_text) or start < 0:
            raise ValueError("The chat template does not render the prompt as a prefix of the conversation.")
        end = start + len(content)
        enc = self._tokenize(full_text, offsets=True)
        ids: list[int] = enc["input_ids"]
        offsets: list[tuple[int, int]] = enc["offset_mapping"]
        mask = tuple(bool(s < end and e > start and e > s) for s, e in offsets)
        prompt_len = next((i for i, (s, e) in enumerate(offsets) if e > len(prompt_text)), len(ids))
        return Encoded(tuple(ids), prompt_len, mask)

    def _tokenize(self, text: str, offsets: bool = False) -> dict[str, Any]:
        out = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=offsets)
        return {k: list(v) for k, v in out.items()}
