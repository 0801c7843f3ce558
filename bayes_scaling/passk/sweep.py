"""Early-stopped sweeps of attempts: best-of-N jailbreaking, its thinning and its pass@k.

A sweep draws attempts in blocks and stops after the first block with a success (or at a
budget), so the number of attempts depends on the outcomes. The counts' likelihood is still the
fixed-design one up to a constant, so a pass@k fit uses them as they are; but a thinning or a
truth computed from them must respect the stopping: :func:`thin_sweep` and
:func:`sweep_pass_at_k` (the sweep's counterparts of :func:`~bayes_scaling.passk.data.
thin_counts` and Chen et al.'s estimator). :func:`bon_jailbreaking` loads the one such table of
the reference data.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.errors import Problem
from bayes_scaling.passk.data import _lgamma, _raise, load_counts
from bayes_scaling.passk.reference import locate, missing

BON_PATH = Path("test-time-compute") / "bon_jailbreaking_pass_at_k.parquet"
#: The best-of-N sweep (Hughes et al. 2024): attempts in blocks of 60, stopped after the first block
#: with a successful attack, at most 10,020 attempts (167 blocks) a prompt.
BON_BLOCK = 60
BON_BUDGET = 10_020


def bon_jailbreaking(path: str | PathLike | None = None) -> pd.DataFrame:
    """Best-of-N jailbreaking (Hughes et al. 2024, as processed by Schaeffer et al. 2025): 7
    frontier models × 159 harmful prompts, ``samples`` augmented attempts and ``correct``
    successful attacks a prompt (60 to 10,020 attempts).

    The sweep stopped early: attempts came in blocks of :data:`BON_BLOCK` = 60 and a prompt's
    sweep ended after the first block with a success, or at :data:`BON_BUDGET` = 10,020 attempts.
    So every success lies in the last block, and a prompt stopped before the budget has c ≥ 1.
    The loader checks this (a RunsError naming the row otherwise), since :func:`thin_sweep` and
    :func:`sweep_pass_at_k` rely on it; ``attrs`` carry ``block`` and ``budget``. The likelihood
    of the counts is the fixed-design one up to a constant (the stopping depends only on
    outcomes already seen), so a pass@k fit uses them as they are.

    ``path``: the parquet file, or a data folder holding ``test-time-compute/bon_jailbreaking_
    pass_at_k.parquet``; default ``$BAYES_SCALING_DATA``, else ``../shared/data``. Not shipped.
    """
    file = locate(path, BON_PATH)
    if not file.exists():
        raise missing(file, "best-of-N jailbreaking", BON_PATH)
    raw = pd.read_parquet(file)  # long: one row per k ("Scaling Parameter"), collapsed
    table = load_counts(
        raw, model="Model", problem="Problem Idx", samples="Num. Samples",
        correct="Num. Samples Correct",
    )  # fmt: skip
    n, c = table["samples"].to_numpy(), table["correct"].to_numpy()
    bad = (n % BON_BLOCK != 0) | (n > BON_BUDGET) | (c > BON_BLOCK) | ((n < BON_BUDGET) & (c == 0))
    problems = [
        Problem(
            int(i),
            "Num. Samples",
            f"{n[i]} attempts with {c[i]} successes do not follow the sweep (blocks of "
            f"{BON_BLOCK}, stopped after the first block with a success or at {BON_BUDGET})",
        )
        for i in np.flatnonzero(bad)
    ]
    _raise(problems)
    table.attrs.update(source="bon_jailbreaking", block=BON_BLOCK, budget=BON_BUDGET)
    return table


def _last_block(n, block):
    """Length of a record's last block: ``block``, or the remainder of a record cut short (a
    sweep thinned to 100 attempts in blocks of 60 ends with a block of 40)."""
    return (np.asarray(n, np.int64) - 1) % block + 1


def _last_block_share(n, last, attempts):
    """Of the first ``attempts`` attempts, how many fall in the record's last block."""
    return np.clip(attempts - (n - last), 0, last)


def thin_sweep(counts: pd.DataFrame, attempts: int, seed: int, *, block: int) -> pd.DataFrame:
    """An early-stopped sweep thinned to its first ``attempts`` attempts a prompt, drawn from the
    counts: what the same sweep with a budget of ``attempts`` would have recorded.

    A prompt with n ≤ ``attempts`` is kept whole (its sweep stopped on a success before the
    budget, as the shorter sweep would have). Otherwise every one of its c successes lies in the
    last block, of L attempts (``block``, or the remainder (n − 1) mod block + 1 of a record
    already cut short): the sweep would have stopped earlier otherwise. The first ``attempts``
    attempts hold m = clip(attempts − (n − L), 0, L) attempts of that block, so

        c' ~ Hypergeometric(L, c, m)      (c' = 0 when m = 0),   n' = attempts.

    Why this is valid: given the prompt's success probability p the attempts are i.i.d. and the
    stopping looks only at outcomes already seen, so the first ``attempts`` attempts of the sweep
    are distributed exactly as a fresh run of that many; and given the record (n, c), the
    arrangements of the c successes inside the last block are equally likely (the block's
    attempts are exchangeable and the stopping rule looks at the block only through its
    count). It assumes the sweep's stopping rule (:func:`bon_jailbreaking` checks the counts
    against it) and that the attempts within a block were not ordered by outcome. Plain
    hypergeometric thinning of all n attempts (:func:`thin_counts`) would not be valid here: it
    spreads the last block's successes over earlier blocks the sweep saw fail, and overstates
    pass@100 of the hard prompts (a prompt broken at attempt 3,000 would be broken in the first
    100 with probability 100/3,000 instead of 0).
    """
    rng = np.random.default_rng(seed)
    n = counts["samples"].to_numpy(np.int64)
    c = counts["correct"].to_numpy(np.int64)
    whole = n <= attempts
    last = _last_block(n, block)
    m = np.where(whole, 0, _last_block_share(n, last, attempts))
    good = np.where(whole, 0, c)
    drawn = rng.hypergeometric(good, last - good, m).astype(np.int64)
    out = counts.copy()
    out["correct"] = np.where(whole, c, drawn)
    out["samples"] = np.where(whole, n, attempts).astype(np.int64)
    out.attrs.update(counts.attrs, thinned_to=attempts)
    return out


def sweep_pass_at_k(counts: pd.DataFrame, k: int, *, block: int) -> np.ndarray:
    """Per prompt of an early-stopped sweep, P(a success among its first k attempts | record):
    an unbiased estimate of 1 − (1 − p)^k (the sweep's counterpart of Chen et al.'s estimator,
    which assumes a fixed number of samples). 1 when the sweep succeeded within k attempts
    (n < k, c ≥ 1); 1 − C(L − c, m)/C(L, m) with m = clip(k − (n − L), 0, L) attempts of the
    last block (L attempts, see :func:`thin_sweep`) among the first k when n ≥ k; NaN when the
    sweep ran out of attempts (c = 0) before k. A record thinned by :func:`thin_sweep` is a sweep
    too: the same function gives its pass@k for k up to its attempts."""
    n = counts["samples"].to_numpy(float)
    c = counts["correct"].to_numpy(float)
    last = _last_block(n.astype(np.int64), block).astype(float)
    m = _last_block_share(n, last, float(k))
    with np.errstate(invalid="ignore"):
        # log C(L − c, m) − log C(L, m), with C(x, m) = 0 when m > x
        log_ratio = (
            _lgamma(last - c + 1) - _lgamma(last - c - m + 1)
            - _lgamma(last + 1) + _lgamma(last - m + 1)
        )  # fmt: skip
        inside = np.where(last - c < m, 1.0, -np.expm1(log_ratio))
    out = np.where(n >= k, inside, np.where(c > 0, 1.0, np.nan))
    return out
