"""Multi-View Consistency: keep the greedy answer only if a judge says another view agrees.

Three greedy views of each prompt: the prompt as given, a chain-of-thought view (the last user
turn ends with "Let's think step by step.") and a JSON view (it asks for a JSON object with the
key 'answer'). The final answer is pulled out of the CoT view (its last fenced code block, else
the text after the last "therefore") and of the JSON view (its ``answer`` field). The judge
compares the plain answer with each; if either agrees (probability > 0.5) and the plain answer
is not blank, it is the label; otherwise the row is not kept. The paper's judge is an API LLM;
the offline default is :class:`~interp.consistency.scoring.YesNoJudge` with the paper's prompt.
Reads ``max_new_tokens`` (256).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from interp.consistency.base import (
    LabelMethod,
    MethodKind,
    MethodParams,
    generate_for,
    labelled_dataset,
    labelled_record,
    limited,
    prompt_of,
    question_of,
    register,
    with_user_suffix,
)
from interp.consistency.scoring import AgreementJudge, YesNoJudge
from interp.data import Dataset
from interp.models.loading import LoadedModel

COT_SUFFIX = "\n\nLet's think step by step."
JSON_SUFFIX = "\n\nProvide your answer in a JSON object with the key 'answer'."
AGREE_THRESHOLD = 0.5


def extract_cot_answer(text: str) -> str:
    """The final answer of a chain of thought: its last fenced block, else what follows the last "therefore"."""
    blocks = re.findall(r"```(?:[a-zA-Z]*\n)?(.*?)```", text, flags=re.DOTALL)
    if blocks:
        return str(blocks[-1]).strip()
    cut = text.lower().rfind("therefore")
    return text[cut + len("therefore") :].strip() if cut >= 0 else text


def extract_json_answer(text: str) -> str:
    """The ``answer`` field of a JSON reply (strict parse of the outer braces, then a lenient match)."""
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "answer" in obj:
            return str(obj["answer"])
    match = re.search(r"""['"]answer['"]\s*:\s*['"](.*?)['"]""", text, flags=re.DOTALL | re.IGNORECASE)
    return match.group(1) if match else text


@register
class MultiViewConsistency(LabelMethod):
    name: ClassVar[str] = "multi_view_consistency"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams()
    needs_reference: ClassVar[bool] = True  # the judge is not the policy: default, the organism's base

    @classmethod
    def default_components(cls, reference: LoadedModel | None, rubric: str | None) -> dict[str, Any]:
        return {"judge": YesNoJudge(model=reference)}

    def __init__(self, judge: AgreementJudge | None = None) -> None:
        self.judge: AgreementJudge = judge or YesNoJudge()

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        prompts = limited(prompts, params)
        plain = [prompt_of(r) for r in prompts]
        views = plain + [with_user_suffix(c, COT_SUFFIX) for c in plain] + [with_user_suffix(c, JSON_SUFFIX) for c in plain]
        outs = [o[0] for o in generate_for(model, views, params.greedy(), params)]
        n = len(plain)
        std, cot_raw, json_raw = outs[:n], outs[n : 2 * n], outs[2 * n :]
        cot = [extract_cot_answer(t) for t in cot_raw]
        js = [extract_json_answer(t) for t in json_raw]
        questions = [question_of(r) for r in prompts]
        agree = self.judge.agreement(model, questions + questions, std + std, cot + js)
        records = []
        for i, r in enumerate(prompts):
            p_cot, p_json = agree[i], agree[n + i]
            kept = (p_cot > AGREE_THRESHOLD or p_json > AGREE_THRESHOLD) and bool(std[i].strip())
            records.append(labelled_record(
                r, self.name, std[i].strip(), kept=kept, candidates=[std[i]],
                views={"cot": cot_raw[i], "json": json_raw[i], "cot_answer": cot[i], "json_answer": js[i]},
                agreement={"cot": p_cot, "json": p_json}, score=self.judge.name,
            ))
        return labelled_dataset(prompts, self.name, records)
