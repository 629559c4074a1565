"""The one adapter from sampled ``{label: value}`` rows to hyperopt trial documents.

Example:
    >>> from hqueue import Trials, hp
    >>> from hqueue.domain import Domain
    >>> domain = Domain(lambda c: 0.0, {"x": hp.uniform("x", 0, 1)})
    >>> docs = rows_to_docs([7], [{"x": 0.25}], domain, Trials())
    >>> docs[0]["misc"]["vals"], docs[0]["misc"]["idxs"]
    ({'x': [0.25]}, {'x': [7]})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..trial_doc import new_misc

if TYPE_CHECKING:
    from ..domain import Domain
    from ..trials import Trials


def rows_to_docs(new_ids: Sequence[int], rows: Sequence[Mapping[str, Any]], domain: Domain,
                 trials: Trials) -> list[dict]:
    """NEW trial documents for ``new_ids``, one per row of active-label values."""
    labels = domain.space.labels
    workdir = getattr(domain, "workdir", None)
    cmd = getattr(domain, "cmd", ("domain_attachment", "FMinIter_Domain"))
    miscs = [new_misc(tid, row, labels, cmd=cmd, workdir=workdir)
             for tid, row in zip(new_ids, rows)]
    return trials.new_trial_docs(list(new_ids), [None] * len(miscs),
                                 [{"status": "new"} for _ in miscs], miscs)
