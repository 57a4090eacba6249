"""Datasets for interp: the chat-record schema, JSONL I/O, the paper's files and our shipped sets.

``interp.data`` owns everything a study reads as examples: :class:`ChatRecord` and
:class:`Dataset` (schema), :func:`load_jsonl` / :func:`write_jsonl`, the paper's data directory
(:func:`load_paper_split`, :func:`load_rubric`; the user passes its path) and the datasets we
ship and generate ourselves (:func:`load_shipped`, :func:`load_contrast_set`, see
``shipped/DATA_CARD.md`` and :mod:`interp.data.make_shipped`).
"""

from interp.data.constants import (
    CONTRAST_SETS,
    DOCUMENT_CONTROLS,
    DOCUMENT_SETS,
    FAILURE_MODES,
    SPLITS,
    check_failure_mode,
    data_failure_mode,
    split_failure_mode,
)
from interp.data.jsonl import dumps_jsonl, load_jsonl, record_from_dict, write_jsonl
from interp.data.paper import PAPER_REPOSITORY, PAPER_SIZES, load_paper_split, load_rubric
from interp.data.questions import load_questions
from interp.data.schema import ROLES, ChatRecord, DataError, Dataset, Message, fingerprint_records
from interp.data.shipped import (
    FILE_FORMATS,
    data_card,
    load_contrast_set,
    load_dataset,
    load_document_set,
    load_shipped,
    shipped_root,
)

__all__ = [
    "CONTRAST_SETS",
    "DOCUMENT_CONTROLS",
    "DOCUMENT_SETS",
    "FAILURE_MODES",
    "FILE_FORMATS",
    "PAPER_REPOSITORY",
    "PAPER_SIZES",
    "ROLES",
    "SPLITS",
    "ChatRecord",
    "DataError",
    "Dataset",
    "Message",
    "check_failure_mode",
    "data_card",
    "data_failure_mode",
    "dumps_jsonl",
    "fingerprint_records",
    "load_contrast_set",
    "load_dataset",
    "load_document_set",
    "load_jsonl",
    "load_paper_split",
    "load_questions",
    "load_rubric",
    "load_shipped",
    "record_from_dict",
    "shipped_root",
    "split_failure_mode",
    "write_jsonl",
]
