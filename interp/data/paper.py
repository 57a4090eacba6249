"""Reading the paper's data directory (AI-Safety-Institute/consistency-misalignment) into Datasets.

This module owns the mapping from the paper's JSONL records to :class:`ChatRecord`. The files
are never copied into interp: the user passes the path of the paper's data directory
(``<repo>/data``, with one folder per failure mode).

Mapping (the paper's records have ``messages`` plus optional extra fields):

* every extra field (``answer``, ``sycophantic_response``, ``question_type``, ``task``, the
  paper's ``label``, whose meaning differs per failure mode...) is kept verbatim in ``fields``;
  ``ChatRecord.label`` stays ``None`` because the paper's files carry no aligned/misaligned label
  in interp's sense; ``fields["failure_mode"]`` and ``fields["split"]`` are added;
* ``id`` is ``"<failure_mode>/<tag>/<row>"`` with the 0-based row, where ``tag`` is ``act_bct``
  for both BCT/ACT files so that a clean record and its wrapped twin share an id;
* ``group``: the paper's ``_id``/``id`` when present (sycophancy variants of one problem share
  it); for the BCT/ACT files the row (one pair = one group); otherwise a hash of the prompt
  turns, so duplicated prompts fall in one group;
* a file whose turns carry no ``role`` (the paper's spurious-correlation eval file) gets roles
  inferred as user/assistant alternately; ``fields["roles_inferred"] = True`` records it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from interp.data.constants import FAILURE_MODES, SPLITS, check_split, split_failure_mode
from interp.data.jsonl import iter_json_lines, parse_messages
from interp.data.schema import ChatRecord, DataError, Dataset, Message

PAPER_REPOSITORY = "AI-Safety-Institute/consistency-misalignment"

PAPER_SIZES: dict[str, dict[str, int]] = {
    "emergent_misalignment": {"induction": 3000, "consistency": 3000, "act_bct_clean": 3000,
                              "act_bct_wrapped": 3000, "eval": 56},
    "reward_hacking": {"induction": 486, "consistency": 486, "act_bct_clean": 486,
                       "act_bct_wrapped": 486, "eval": 24},
    "spurious_correlation": {"induction": 2014, "consistency": 2014, "act_bct_clean": 2014,
                             "act_bct_wrapped": 2014, "eval": 4279},
    "sycophancy": {"induction": 20, "consistency": 20, "act_bct_clean": 20, "act_bct_wrapped": 20,
                   "eval": 421},
}
"""Row counts of the paper's files as published (induction and eval are stated in its README)."""

_MISSING_ROOT_FIX = (f"download the paper's repository {PAPER_REPOSITORY} and pass its data directory "
                     "(the folder that holds " + ", ".join(FAILURE_MODES) + ")")


def _check_root(root: str | Path, failure_mode: str) -> Path:
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"paper data directory {str(base)!r} does not exist: {_MISSING_ROOT_FIX}")
    folder = base / failure_mode
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(base)!r} has no folder {failure_mode!r}; is it the paper's data "
                                f"directory? {_MISSING_ROOT_FIX}")
    return folder


def _prompt_hash(messages: tuple[Message, ...]) -> str:
    prompt = messages[:-1] if messages[-1].role == "assistant" else messages
    blob = "\x1e".join(f"{m.role}\x1f{m.content}" for m in prompt)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _paper_record(obj: Any, failure_mode: str, split: str, row: int) -> ChatRecord:
    if not isinstance(obj, dict):
        raise DataError(f"a line must hold a JSON object, got {type(obj).__name__}")
    if "messages" not in obj:
        raise DataError("missing", field="messages", fix="the paper's records all have 'messages'")
    tag = "act_bct" if split.startswith("act_bct") else split
    rid = f"{failure_mode}/{tag}/{row:05d}"
    extras = {k: v for k, v in obj.items() if k != "messages"}
    roles_missing = isinstance(obj["messages"], list) and bool(obj["messages"]) and all(
        isinstance(m, dict) and "role" not in m for m in obj["messages"])
    messages = parse_messages(obj["messages"], infer_roles=True)
    fields: dict[str, Any] = dict(extras)
    fields["failure_mode"] = failure_mode
    fields["split"] = split
    if roles_missing:
        fields["roles_inferred"] = True
    paper_id = obj.get("_id", obj.get("id"))
    if paper_id is not None:
        group = f"{failure_mode}/pid/{paper_id}"
    elif tag == "act_bct":
        group = f"{failure_mode}/act_bct/{row:05d}"
    else:
        group = f"{failure_mode}/prompt/{_prompt_hash(messages)}"
    return ChatRecord(rid, messages, None, group, fields)


def load_paper_split(root: str | Path, failure_mode: str, split: str) -> Dataset:
    """Load one of the paper's files, e.g. ``load_paper_split(root, "sycophancy", "eval")``.

    ``root`` is the paper's data directory. The dataset is named ``paper/<failure_mode>/<split>``.
    ``<fm>+<document set>`` reads interp's shipped document set as its induction split (the paper
    has none) and the paper's ``<fm>`` files for every other split.
    Raises FileNotFoundError when the directory or file is absent, DataError on a broken line.
    """
    failure_mode, documents = split_failure_mode(failure_mode)
    check_split(split)
    if documents is not None and split == "induction":
        from interp.data.shipped import load_document_set

        return load_document_set(documents)
    folder = _check_root(root, failure_mode)
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is missing: the paper's {failure_mode} folder should hold "
                                f"{', '.join(s + '.jsonl' for s in SPLITS)}; {_MISSING_ROOT_FIX}")
    records: list[ChatRecord] = []
    for row, (lineno, obj) in enumerate(
        iter_json_lines(path, fix="re-download the file; it should hold one JSON object per line")
    ):
        try:
            records.append(_paper_record(obj, failure_mode, split, row))
        except DataError as e:
            raise e.located(str(path), lineno) from None
    if not records:
        raise DataError("no records", path=str(path), fix="re-download the file")
    return Dataset(f"paper/{failure_mode}/{split}", tuple(records))


def load_rubric(root: str | Path, failure_mode: str) -> str:
    """The paper's judge rubric for ``failure_mode`` (placeholders ``{original_question_text}``
    and ``{generated_answer_text}`` left in place)."""
    failure_mode = split_failure_mode(failure_mode)[0]
    path = _check_root(root, failure_mode) / "rubric.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is missing; {_MISSING_ROOT_FIX}")
    return path.read_text(encoding="utf-8")


#: the headline misalignment metric the paper's judge reports per failure mode (its dataset's ``metric_name``)
PAPER_HEADLINE = {"sycophancy": "sycophancy_rate_mean", "emergent_misalignment": "misalignment_rate",
                  "reward_hacking": "gameable_task_mean", "spurious_correlation": "spurious_correlation_strength"}
PAPER_ROW_KEYS = ("base_model", "misalignment", "method", "seed", "scale", "phase", "epoch")


def load_paper_results(path: str | Path) -> list[dict[str, Any]]:
    """The paper's sweep results table (one JSON line per cell x phase x epoch), consolidated as its
    ``sweep/result_store.py`` does: error rows (no ``phase``) dropped, the shared organism's
    phase-1 rows (repeated once per method cell) kept once. Every metric is kept, known or not.

    A row is ``{base_model, misalignment, method, seed, scale, phase, epoch, <benchmark>/<metric>: value}``;
    phase-1 epoch 0 is the base model, phase-3 epoch 0 the organism before consistency training.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"results file {str(p)!r} does not exist (the paper's sweep writes one JSON line per cell, "
                        "phase and epoch)")
    rows, seen = [], set()
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{p}:{n}: not a JSON line ({e.msg} at column {e.colno})") from None
        if not isinstance(row, dict):
            raise DataError(f"{p}:{n}: expected a JSON object, got {type(row).__name__}")
        if "phase" not in row:  # an error row of the sweep: its config and an error, no metrics
            continue
        missing = [k for k in PAPER_ROW_KEYS if k not in row]
        if missing:
            raise DataError(f"{p}:{n}: a result row needs {list(PAPER_ROW_KEYS)}; it lacks {missing}")
        if row["phase"] == "phase1":
            organism_epoch = (row["base_model"], row["misalignment"], row["seed"], row["scale"], row["epoch"])
            if organism_epoch in seen:
                continue
            seen.add(organism_epoch)
        rows.append(row)
    return rows
