"""The paper's claims beside this build's numbers, with a verdict for each: the book's "Claims checked" page.

Every chapter glues the numbers it measures (``myst_nb.glue``); :func:`ebsdlib.book.pipeline.build_book`
collects them after the chapters ran (:func:`ebsdlib.book.pipeline.glued_values`) and :func:`claims_markdown`
turns them into one table: the claim, the paper's value (from ``ebsdlib/data/paper.yml``), this build's value, a
verdict and the chapter that measured it. Nothing on the page is typed by hand; a claim whose numbers no
chapter of this build produced says so.

Verdicts
    ``reproduced``: this build's value agrees with the paper's (within the tolerance the row names, or
    the same ordering); ``partly``: the direction holds but not the size, or the number only holds
    for a reason the paper does not give; ``not reproduced``: it does not hold here; ``not testable
    here``: this build's settings cannot show it (for example every trial ran into the epoch cap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ebsdlib.book.paper import paper_values
from ebsdlib.book.prose import SINGLE_TRIAL_LEVEL, SOURCES_LEVEL

__all__ = ["VERDICTS", "Claim", "check_claims", "claims_table", "claims_markdown", "first_epoch_facts"]

VERDICTS = ("reproduced", "partly", "not reproduced", "not testable here", "not measured in this build")

#: Chapter titles as the page links them.
CHAPTERS = {
    "02_training": "Training",
    "03_holdout": "Holdout",
    "04_filters": "Filters",
    "05_shap": "SHAP",
    "06_dual_phase": "Dual-phase map",
    "07_few_shot": "Few-shot",
}

#: How the page names the transfer model's pretrained source (chapter 2 glues its kind as ``source_kind``).
SOURCE_NAMES = {"imagenet": "ImageNet", "source-task": "the source task", "file": "a weights file"}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and how this build measured it."""

    claim: str
    chapter: str
    paper: str
    ours: str
    verdict: str
    why: str = ""


def first_epoch_facts(results) -> dict[str, float]:
    """Chapter 2's facts for the claims page: per approach, the mean over trials of the first epoch's
    training loss, its validation loss with Keras' own BatchNorm statistics (the value the paper reports)
    and the number of trials that stopped early."""
    facts: dict[str, float] = {}
    for approach in ("scratch", "transfer"):
        approach_results = [r for r in results if r.approach == approach]
        if not approach_results:
            continue
        facts[f"{approach}_first_loss"] = float(np.mean([r.history["loss"].iloc[0] for r in approach_results]))
        facts[f"{approach}_first_val_keras"] = float(np.mean([r.history["val_loss_keras"].iloc[0] for r in approach_results]))
        facts[f"{approach}_stopped_early"] = int(sum(bool(r.info.get("stopped_early")) for r in approach_results))
    return facts


def _num(facts: dict, key: str) -> float | None:
    value = facts.get(key)
    if value is None:
        return None
    try:
        return float(str(value).strip("'\""))
    except ValueError:
        return None


def _have(facts: dict, *keys: str) -> bool:
    return all(_num(facts, k) is not None for k in keys)


def _missing(claim: str, chapter: str, paper: str) -> Claim:
    return Claim(claim, chapter, paper, "—", "not measured in this build", f"chapter {chapter} did not run in this build")


def _closeness(ours: float, paper: float, close: float, near: float) -> str:
    gap = abs(ours - paper)
    return "reproduced" if gap <= close else "partly" if gap <= near else "not reproduced"


def _source_kind(facts: dict) -> str | None:
    value = facts.get("source_kind")
    return None if value is None else str(value).strip("'\"")


def _from_source(row: Claim, facts: dict) -> Claim:
    """A claim about the paper's transfer from ImageNet, as this build measured it: the value names the
    pretrained source, and a build whose transfer model started elsewhere cannot test the claim."""
    kind = _source_kind(facts)
    if kind is None or row.verdict == "not measured in this build":
        return row
    ours = f"{row.ours} (transfer from {SOURCE_NAMES.get(kind, kind)})"
    if kind == "imagenet":
        return Claim(row.claim, row.chapter, row.paper, ours, row.verdict, row.why)
    why = f"the paper's transfer starts from ImageNet, this build's from {SOURCE_NAMES.get(kind, kind)}"
    return Claim(row.claim, row.chapter, row.paper, ours, "not testable here", why)


def _over_trials(facts: dict, approach: str, score: str) -> tuple[float, float] | None:
    """Chapter 3's mean and spread of ``score`` over ``approach``'s trials, where the build glued them."""
    mean, spread = _num(facts, f"{approach}_{score}_mean"), _num(facts, f"{approach}_{score}_spread")
    return None if mean is None or spread is None else (mean, spread)


def _gap_to_paper(best: float, trials: tuple[float, float] | None, paper: float) -> float:
    """How far the paper's value lies from this build's: from the best trial, or from the trials' range
    mean ± spread where it is known, whichever is nearer (0 inside the range)."""
    gap = abs(best - paper)
    if trials is not None:
        mean, spread = trials
        gap = min(gap, max(0.0, abs(mean - paper) - spread))
    return gap


def _table1(facts: dict, paper: dict) -> list[Claim]:
    rows = []
    p = paper["holdout"]
    for approach in ("scratch", "transfer"):
        claim = f"Table 1, {approach}: class-weighted precision and recall on held-out patterns"
        reported = f"{p[approach]['precision']:.2f} / {p[approach]['recall']:.2f}"
        if not _have(facts, f"{approach}_precision", f"{approach}_recall"):
            rows.append(_missing(claim, "03_holdout", reported))
            continue
        precision, recall = _num(facts, f"{approach}_precision"), _num(facts, f"{approach}_recall")
        trials = {score: _over_trials(facts, approach, score) for score in ("precision", "recall")}
        gaps = [
            _gap_to_paper(v, trials[score], p[approach][score]) for score, v in (("precision", precision), ("recall", recall))
        ]
        verdict = max((_closeness(gap, 0.0, 0.03, 0.10) for gap in gaps), key=VERDICTS.index)
        ours = f"{precision:.2f} / {recall:.2f}"
        n = _num(facts, f"{approach}_trials")
        if all(trials.values()) and n is not None and n > 1:
            spread = " / ".join(f"{trials[score][0]:.2f} ± {trials[score][1]:.2f}" for score in ("precision", "recall"))
            ours = f"{ours} (best of {n:.0f} trials; all trials {spread})"
        row = Claim(
            claim,
            "03_holdout",
            reported,
            ours,
            verdict,
            "the paper's value within 0.03 of the best trial or of the trials' mean ± spread: reproduced; within 0.10: partly",
        )
        rows.append(_from_source(row, facts) if approach == "transfer" else row)
    claim = "Transfer learning scores higher than training from scratch on held-out patterns"
    reported = (
        f"precision {p['transfer']['precision']:.2f} > {p['scratch']['precision']:.2f}, "
        f"recall {p['transfer']['recall']:.2f} > {p['scratch']['recall']:.2f}"
    )
    keys = ("scratch_precision", "transfer_precision", "scratch_recall", "transfer_recall")
    if not _have(facts, *keys):
        rows.append(_missing(claim, "03_holdout", reported))
    else:
        sp, tp, sr, tr = (_num(facts, k) for k in keys)
        ours = f"precision {tp:.2f} vs {sp:.2f}, recall {tr:.2f} vs {sr:.2f}"
        # Over the trials where chapter 3 glued them: transfer is ahead on a score when its mean is higher, and
        # clearly ahead when by more than the two spreads together (with one trial the spreads are 0).
        ahead, clearly = 0, 0
        for score, (s_best, t_best) in (("precision", (sp, tp)), ("recall", (sr, tr))):
            s_trials, t_trials = _over_trials(facts, "scratch", score), _over_trials(facts, "transfer", score)
            if s_trials is None or t_trials is None:
                difference, spreads = t_best - s_best, 0.0
            else:
                difference, spreads = t_trials[0] - s_trials[0], s_trials[1] + t_trials[1]
            ahead += difference > 0
            clearly += difference > spreads
        verdict = "reproduced" if clearly == 2 else "partly" if ahead else "not reproduced"
        why = "" if clearly == ahead else f"ahead within the spread between trials on {ahead - clearly} of the two scores"
        rows.append(_from_source(Claim(claim, "03_holdout", reported, ours, verdict, why), facts))
    return rows


def _judged(claim: str, chapter: str, reported: str, facts: dict, keys: tuple[str, ...], judge) -> Claim:
    """A claim judged by ``judge(*values of keys) -> (this build's value, verdict[, why])``, or "not
    measured in this build" when a key is missing."""
    if not _have(facts, *keys):
        return _missing(claim, chapter, reported)
    return Claim(claim, chapter, reported, *judge(*(_num(facts, k) for k in keys)))


def _training(facts: dict, paper: dict) -> list[Claim]:
    t = paper["training"]
    e, f = t["epochs_to_converge"], t["first_epoch_loss"]

    def epochs(scratch, transfer):
        ours = f"{transfer:.1f} vs {scratch:.1f}"
        stopped = [_num(facts, f"{approach}_stopped_early") for approach in ("scratch", "transfer")]
        cap = _num(facts, "max_epochs")
        none_stopped = all(s is not None and s == 0 for s in stopped)
        both_capped = cap is not None and min(scratch, transfer) >= cap
        if none_stopped or both_capped:
            cap_text = f" of {cap:.0f} epochs" if cap is not None else ""
            return ours, "not testable here", f"no trial stopped early: every one ran into the cap{cap_text}"
        return ours, "reproduced" if transfer < scratch else "not reproduced"

    def first_validation(scratch, transfer):
        ratio = scratch / transfer if transfer > 0 else np.inf
        verdict = "reproduced" if ratio >= 5 else "partly" if ratio > 1 else "not reproduced"
        return (
            f"{scratch:.2f} vs {transfer:.2f}",
            verdict,
            "Keras' own BatchNorm statistics, as the paper; scratch at least 5× transfer: reproduced; above: partly",
        )

    def first_training(scratch, transfer):
        return f"{transfer:.2f} vs {scratch:.2f}", "reproduced" if transfer < scratch else "not reproduced"

    rows = [
        _judged(
            "Transfer learning converges in fewer epochs than training from scratch",
            "02_training",
            f"{e['transfer']['mean']} ± {e['transfer']['std']} vs {e['scratch']['mean']} ± {e['scratch']['std']}",
            facts,
            ("scratch_epochs", "transfer_epochs"),
            epochs,
        ),
        _judged(
            "After one epoch the scratch model's validation loss is far above the transfer model's",
            "02_training",
            f"{f['scratch']['validation']['mean']} vs {f['transfer']['validation']['mean']}",
            facts,
            ("scratch_first_val_keras", "transfer_first_val_keras"),
            first_validation,
        ),
        _judged(
            "The first epoch's training loss is lower with transfer learning",
            "02_training",
            f"{f['transfer']['train']['mean']} vs {f['scratch']['train']['mean']}",
            facts,
            ("scratch_first_loss", "transfer_first_loss"),
            first_training,
        ),
    ]
    return [_from_source(row, facts) for row in rows]


def _similarity(text: str | None) -> float | None:
    match = re.search(r"similarity (-?[0-9.]+)", text or "")
    return float(match.group(1)) if match else None


def _filters(facts: dict) -> list[Claim]:
    claim = "Kernels of the first layer converge to classical edge operators (Sobel x, Gabor 135°)"
    reported = "two of the four most similar kernel pairs"
    texts = [facts.get(f"{approach}_top_operator") for approach in ("scratch", "transfer")]
    if any(t is None for t in texts):
        return [_missing(claim, "04_filters", reported)]
    similar = [_similarity(t) for t in texts]
    close = sum(s is not None and s >= 0.8 for s in similar)
    verdict = {2: "reproduced", 1: "partly", 0: "not reproduced"}[close]
    ours = f"scratch: {texts[0]}; transfer: {texts[1]}"
    return [
        Claim(
            claim,
            "04_filters",
            reported,
            ours,
            verdict,
            "the best-matching operator of each model at cosine similarity 0.8 or more: reproduced",
        )
    ]


def _shap(facts: dict) -> list[Claim]:
    claim = "SHAP values cluster near zone axes"
    reported = "shown on examples (Fig. 4), not measured"
    keys = ("scratch_zone_ratio", "transfer_zone_ratio")
    if not _have(facts, *keys):
        return [_missing(claim, "05_shap", reported)]
    ratios = [_num(facts, k) for k in keys]
    above = sum(r > 1.0 for r in ratios)
    verdict = {2: "reproduced", 1: "partly", 0: "not reproduced"}[above]
    return [
        Claim(
            claim,
            "05_shap",
            reported,
            f"|SHAP| near zone axes / elsewhere: {ratios[0]:.2f} (scratch), {ratios[1]:.2f} (transfer)",
            verdict,
            "median ratio of mean |SHAP| within the zone-axis radius to the rest, above 1 for a model: it clusters",
        )
    ]


#: Points of balanced accuracy by which a CNN's map must beat Hough's, and a map of one phase (50 %), to
#: reproduce the paper's claim: neighbouring pixels of one grain are not independent, so a small lead on a map
#: of a few dozen grains is no evidence.
MAP_MARGIN = 5.0


def _map(facts: dict, paper: dict) -> list[Claim]:
    rows = []
    counts = paper["dual_phase"]["counts"]
    total = paper["dual_phase"]["map_patterns"]
    true = _num(facts, "true_fraction")
    for approach in ("scratch", "transfer"):
        claim = f"Table 2, {approach}: the share of the dual-phase map called Ni3Al (221)"
        reported = f"{100 * counts[approach][221] / total:.1f} % of {total} patterns (no ground truth)"
        key = f"{approach}_map_fraction"
        if not _have(facts, key, "true_fraction"):
            rows.append(_missing(claim, "06_dual_phase", reported))
            continue
        share = _num(facts, key)
        rows.append(
            Claim(
                claim,
                "06_dual_phase",
                reported,
                f"{share:.1f} % (true: {true:.1f} %)",
                _closeness(share, true, 5.0, 15.0),
                "against this map's ground truth: within 5 points: reproduced; within 15: partly",
            )
        )
    for approach in ("scratch", "transfer"):
        claim = f"The {approach} CNN's phase map improves on Hough indexing"
        reported = "Hough: one phase everywhere (Ni and Ni3Al tie); CNNs: both phases"
        keys = (f"{approach}_map_balanced", "hough_balanced", f"{approach}_map_accuracy", "hough_accuracy")
        if not _have(facts, *keys):
            rows.append(_missing(claim, "06_dual_phase", reported))
            continue
        cnn, hough, cnn_accuracy, hough_accuracy = (_num(facts, k) for k in keys)
        ours = (
            f"balanced accuracy {cnn:.1f} % vs Hough {hough:.1f} % (one phase everywhere: 50 %); "
            f"pixels right {cnn_accuracy:.1f} % vs {hough_accuracy:.1f} %"
        )
        rows.append(Claim(claim, "06_dual_phase", reported, ours, *_map_verdict(cnn, hough)))
    claim = (
        "Beyond the paper: few-shot transfer applied to the map. A CNN fine-tuned on simulated patterns of the "
        "sample's two phases improves on Hough indexing"
    )
    reported = "not done (the paper's CNNs classified the map as trained on its 18 materials)"
    keys = ("tuned_approach", "tuned_all_balanced", "hough_all_balanced", "tuned_all_accuracy", "hough_all_accuracy")
    if not _have(facts, *keys[1:]):
        rows.append(_missing(claim, "06_dual_phase", reported))
        return rows
    cnn, hough, cnn_accuracy, hough_accuracy = (_num(facts, k) for k in keys[1:])
    ours = (
        f"{str(facts['tuned_approach']).strip(chr(39))}, fine-tuned: balanced accuracy {cnn:.1f} % vs Hough {hough:.1f} %; "
        f"pixels right {cnn_accuracy:.1f} % vs {hough_accuracy:.1f} %"
    )
    if _have(facts, "tuned_interior_balanced", "tuned_interior_accuracy"):
        ours += (
            f"; interior pixels: balanced {_num(facts, 'tuned_interior_balanced'):.1f} %, "
            f"right {_num(facts, 'tuned_interior_accuracy'):.1f} %"
        )
    rows.append(Claim(claim, "06_dual_phase", reported, ours, *_map_verdict(cnn, hough)))
    return rows


def _map_verdict(cnn: float, hough: float) -> tuple[str, str]:
    """The verdict on a CNN's map against Hough's by their balanced accuracies (percent), with the reason."""
    if cnn > hough + MAP_MARGIN and cnn > 50.0 + MAP_MARGIN:
        return "reproduced", (
            f"mean recall of the two phases more than {MAP_MARGIN:.0f} points above Hough's and above a map of one phase"
        )
    if cnn > hough:
        return "partly", f"above Hough, but by less than {MAP_MARGIN:.0f} points or not above a map of one phase"
    return "not reproduced", "mean recall of the two phases not above Hough's"


def _sources(facts: dict) -> list[Claim]:
    claim = (
        "ImageNet's features help because they are general: pretraining on natural images is at least as "
        "valuable as pretraining on EBSD patterns (transfer from ImageNet against transfer from a source task "
        "of other simulated space groups, per training count)"
    )
    reported = "stated as the reason, not measured (the paper transferred from ImageNet only)"
    keys = ("sources_compared", "imagenet_ahead", "sources_level", "source_task_ahead")
    if _have(facts, "sources_compared") and _num(facts, "sources_compared") == 0:
        return [
            Claim(
                claim,
                "07_few_shot",
                reported,
                "—",
                "not testable here",
                "this build has no pair of transfer curves, from ImageNet and from the source task, to compare",
            )
        ]

    def judge(compared, ahead, level, behind):
        ours = f"ImageNet ahead at {ahead:.0f}, level at {level:.0f}, behind at {behind:.0f} of {compared:.0f} training counts"
        margin = _num(facts, "sources_margin")
        margin = SOURCES_LEVEL if margin is None else margin
        verdict = "reproduced" if behind == 0 else "partly" if behind < compared else "not reproduced"
        return (
            ours,
            verdict,
            f"level: within {margin:.2f} ({SOURCES_LEVEL:.2f} with two trials or more per point, {SINGLE_TRIAL_LEVEL:.2f} with one); "
            "ahead or level at every count: reproduced; behind at every count: not",
        )

    return [_judged(claim, "07_few_shot", reported, facts, keys, judge)]


def check_claims(facts: dict[str, str], paper: dict | None = None) -> list[Claim]:
    """Every claim of the paper with a number or a testable statement, checked against ``facts`` (the
    glued values of the chapters, as strings or numbers)."""
    paper = paper_values() if paper is None else paper
    return _table1(facts, paper) + _training(facts, paper) + _filters(facts) + _shap(facts) + _map(facts, paper) + _sources(facts)


def claims_table(facts: dict[str, str], paper: dict | None = None) -> pd.DataFrame:
    """:func:`check_claims` as a table (one row per claim)."""
    return pd.DataFrame([c.__dict__ for c in check_claims(facts, paper)])


def claims_markdown(facts: dict[str, str], paper: dict | None = None, link_prefix: str = "") -> str:
    """The claims page's table in Markdown, each claim linked to the chapter that measured it, then the
    count of each verdict."""
    claims = check_claims(facts, paper)
    lines = ["| claim | paper | this build | verdict | chapter |", "|---|---|---|---|---|"]
    for c in claims:
        verdict = f"**{c.verdict}**" + (f" ({c.why})" if c.why else "")
        chapter = f"[{CHAPTERS.get(c.chapter, c.chapter)}]({link_prefix}{c.chapter}.ipynb)"
        cells = [c.claim, c.paper, c.ours, verdict, chapter]
        lines.append("| " + " | ".join(s.replace("|", "\\|") for s in cells) + " |")
    tally = pd.Series([c.verdict for c in claims]).value_counts()
    summary = ", ".join(f"{tally[v]} {v}" for v in VERDICTS if v in tally)
    return "\n".join(lines) + f"\n\nOf {len(claims)} claims: {summary}."
