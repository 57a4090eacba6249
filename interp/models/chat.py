"""Chat formatting from the tokenizer's own template (or a given one), with prompt/response masks.

Which tokens are "the response" is read off the rendered text (character offsets of the final
assistant turn's content), never guessed from token counts. The system prompt can be the
template's default, replaced, or removed.

A model whose tokenizer has no chat template (a base model) is studied as plain text
(:data:`PLAIN`): the turns' contents, the response after a separator. ``chat_template`` chooses
another rendering for any model: ``"plain"``, a Jinja template string, or a template file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

SystemPrompt = str | None
Message = Mapping[str, str]

_SENTINEL = "\x00interp-system\x00"

PLAIN = "plain"
"""``chat_template`` value: the turns as plain text (a base model's format)."""
DEFAULT_SEPARATOR = "\n"
"""Between a plain prompt and its response."""
TURN_BREAK = "\n\n"
"""Between plain turns that are not a prompt and its response."""


class ChatChoice(TypedDict):
    """The ``chat_template`` / ``chat_separator`` keywords of ``load_model`` (None: the model's own)."""

    chat_template: str | None
    chat_separator: str | None


def chat_choice(chat_template: str | Path | None, chat_separator: str | None) -> ChatChoice:
    """The keywords of ``load_model`` for a chosen rendering, the template resolved to its text."""
    return ChatChoice(chat_template=resolve_template(chat_template), chat_separator=chat_separator)


def resolve_template(chat_template: str | Path | None) -> str | None:
    """``None`` (the tokenizer's own, or plain text when it has none), :data:`PLAIN`, or the text of a
    Jinja template given inline or as a file."""
    if chat_template is None or chat_template == PLAIN:
        return chat_template if chat_template is None else PLAIN
    text = str(chat_template)
    if "{{" in text or "{%" in text:
        return text
    path = Path(text).expanduser()
    if path.is_file():
        body = path.read_text(encoding="utf-8")
        if "{{" not in body and "{%" not in body:
            raise ValueError(f"chat_template file {path} holds no Jinja ('{{{{ ... }}}}' or '{{% ... %}}'): give a "
                             "chat template (the chat_template of a tokenizer_config.json), or 'plain'")
        return body
    raise ValueError(f"chat_template {text!r} is neither 'plain', a Jinja template string, nor a file that exists: "
                     "give 'plain' (plain text, for base models), a template such as the chat_template of a "
                     "tokenizer_config.json, or the path of a file holding one")


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
    """Render conversations and locate prompt and response tokens.

    Args:
        tokenizer: the model's tokenizer.
        system_prompt: ``"default"`` (the template's), a string, or ``None`` to remove it.
        chat_template: ``None``: the tokenizer's own template, or plain text when it has none;
            ``"plain"``: plain text on any model; a Jinja template (string or file) used instead
            of the tokenizer's.
        separator: with plain text, what follows a prompt before its response (default ``"\\n"``).
    """

    def __init__(self, tokenizer: Any, system_prompt: SystemPrompt = "default",
                 chat_template: str | Path | None = None, separator: str | None = None) -> None:
        template = resolve_template(chat_template)
        own = getattr(tokenizer, "chat_template", None)
        self.plain = template == PLAIN or (template is None and own is None)
        if separator is not None and not self.plain:
            raise ValueError("chat_separator applies to plain text only (chat_template: plain, or a model without "
                             "a chat template); a Jinja template places its own separators")
        if separator is not None and not isinstance(separator, str):
            raise ValueError(f"chat_separator must be a string, got {separator!r}")
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.separator = DEFAULT_SEPARATOR if separator is None else separator
        self.template = None if self.plain or template is None else template
        # The rendering is a function of the checkpoint alone with the tokenizer's own template, or with
        # the default plain text of a tokenizer that has none: keys then stay as they were.
        chosen = self.template is not None or (self.plain and (own is not None or self.separator != DEFAULT_SEPARATOR))
        self._text_bos = _adds_bos(tokenizer)  # what the tokenizer opens plain text with
        self._bos = self.plain and self._text_bos
        self.identity: str | None = None
        if chosen:
            what = f"plain:{self.separator}" if self.plain else f"jinja:{self.template}"
            self.identity = hashlib.sha256(what.encode()).hexdigest()[:16]

    @property
    def describe(self) -> str:
        """How conversations are rendered, for manifests: ``template`` (the tokenizer's own), ``plain``, ``jinja``."""
        return "plain" if self.plain else ("jinja" if self.template is not None else "template")

    def _apply(self, msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
        if self.plain:
            return self._plain(msgs, add_generation_prompt)
        extra = {"chat_template": self.template} if self.template is not None else {}
        return str(self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                      **extra))

    def _plain(self, msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
        """Contents in order: a prompt turn ends with the separator when a response follows (or is
        asked for), other turns with a blank line; a BOS first where the tokenizer adds one to text."""
        parts = [self.tokenizer.bos_token] if self._bos else []
        for i, m in enumerate(msgs):
            parts.append(m["content"])
            last = i == len(msgs) - 1
            answered = (msgs[i + 1]["role"] == "assistant") if not last else add_generation_prompt
            if m["role"] != "assistant" and answered:
                parts.append(self.separator)
            elif not last:
                parts.append(TURN_BREAK)
        return "".join(parts)

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
        if self.system_prompt is None and not self.plain and not (msgs and msgs[0]["role"] == "system"):
            return self._render_without_system(msgs, add_generation_prompt)
        return self._apply(msgs, add_generation_prompt)

    def _render_without_system(self, msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
        # Templates such as SmolLM2's insert a default system turn whenever none is given.
        # Render with a sentinel system turn and cut that turn off (it is a prefix of the text).
        sentinel = [{"role": "system", "content": _SENTINEL}]
        full = self._apply(sentinel + msgs, add_generation_prompt)
        head = self._apply(sentinel, False)
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
            raise ValueError("The chat template does not render the prompt as a prefix of the conversation "
                             "(chat_template: plain renders any conversation as text).")
        end = start + len(content)
        enc = self._tokenize(full_text, offsets=True)
        ids: list[int] = enc["input_ids"]
        offsets: list[tuple[int, int]] = enc["offset_mapping"]
        mask = tuple(bool(s < end and e > start and e > s) for s, e in offsets)
        prompt_len = next((i for i, (s, e) in enumerate(offsets) if e > len(prompt_text)), len(ids))
        return Encoded(tuple(ids), prompt_len, mask)

    def encode_document(self, messages: Sequence[Message]) -> Encoded:
        """A conversation's final assistant turn alone, as plain text on any model (no request, no
        template): a document. Every token is the response, after the BOS the tokenizer opens text with."""
        if not messages or messages[-1]["role"] != "assistant":
            role = messages[-1]["role"] if messages else "no"
            raise ValueError(f"A document is a conversation's final assistant turn; this one ends with a {role} turn.")
        bos = [int(self.tokenizer.bos_token_id)] if self._text_bos else []
        ids = bos + list(self._tokenize(messages[-1]["content"])["input_ids"])
        return Encoded(tuple(ids), len(bos), (False,) * len(bos) + (True,) * (len(ids) - len(bos)))

    def _tokenize(self, text: str, offsets: bool = False) -> dict[str, Any]:
        out = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=offsets)
        return {k: list(v) for k, v in out.items()}


def _adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer opens plain text with its BOS token (what the model saw in training)."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None or not getattr(tokenizer, "bos_token", None):
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos_id
