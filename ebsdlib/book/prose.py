"""The book's sentences that branch on its numbers: one place for every verdict a chapter prints.

A chapter's fixed prose lives in its Markdown cells with glued numbers. Where a sentence must change with
the numbers (a curve that rises or falls, a verdict that is met or not), it is written here, and each
threshold that decides a verdict is a named constant with the reason beside it. The studies
(:mod:`ebsdlib.studies`) and the benchmark (:mod:`ebsdlib.bench`) return numbers only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ebsdlib.studies.generalise import left_out_against_seen, regime_summary

__all__ = [
    "NOT_MONOTONIC_DROP",
    "LEARNT_SYMMETRY",
    "ABOVE_CHANCE_MARGIN",
    "NEAR_CHANCE_MARGIN",
    "CARRIES_OVER_POINTS",
    "BARELY_DIFFERENT",
    "CNN_SEES_IT_MARGIN",
    "SOURCES_LEVEL",
    "SINGLE_TRIAL_LEVEL",
    "sources_tally",
    "curve_findings",
    "source_findings",
    "generalisation_answer",
    "generalisation_findings",
    "separability_findings",
    "student_sentence",
    "reflection_findings",
    "physics_verdict",
    "not_at_hand_clause",
    "settings_findings",
]

#: A curve counts as "not monotonic" where the mean score falls by more than this between two counts:
#: smaller dips are within the spread of a single trial (chapter 7's trials differ by a few hundredths).
NOT_MONOTONIC_DROP = 0.02

#: Two pretrained sources count as level at a training count where their transfer models' mean scores differ by
#: no more than this: as :data:`NOT_MONOTONIC_DROP`, the spread of a single trial.
SOURCES_LEVEL = 0.02

#: The same, where each point is a single trial and the spread between trials is not measured: the default
#: builds' Table 1 moved by 0.04–0.12 between builds that differed in code and seeds, so only a larger
#: difference between two single trials says which source is ahead.
SINGLE_TRIAL_LEVEL = 0.12

#: Mean accuracy on phases and sources never seen in training at or above which the classifier is said to
#: have learnt the space groups' symmetry: well above chance (1/6) and near the accuracy on training
#: materials, so that no single source or phase family could produce it by luck.
LEARNT_SYMMETRY = 0.8

#: Points above chance (1/6) at or below which the best unseen accuracy counts as knowing only the training
#: materials and simulator: a classifier that answers by lattice parameter alone lands within this of chance.
NEAR_CHANCE_MARGIN = 0.1

#: Points above chance that a model trained on generated phases must score on the paper's materials to be
#: called "above chance": about two standard errors of the accuracy on the chapter's 18 materials.
ABOVE_CHANCE_MARGIN = 0.05

#: Percentage points within which a held-out material's accuracy counts as "carrying over" from the
#: materials of its space group the model trained on: the fold-to-fold spread of the leave-out models.
CARRIES_OVER_POINTS = 10

#: Ideal-observer accuracy below which two materials' patterns barely differ at the input size: 0.5 is a
#: coin toss, and 0.6 is within the observer's noise on 40 patterns per material.
BARELY_DIFFERENT = 0.6

#: A CNN "sees" a difference when its pair accuracy is within this of the ideal observer's: the observer
#: knows each pattern's orientation and PCx/PCy, the CNN does not, so it cannot be asked to match it exactly.
CNN_SEES_IT_MARGIN = 0.1


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _fmt_count(value) -> str:
    return "not reached" if value is None or np.isnan(value) else f"{value:,.0f}"


def curve_findings(
    summary: pd.DataFrame,
    size_summary: pd.DataFrame | None,
    needed: pd.DataFrame,
    target: float,
    metric: str,
    *,
    build: tuple[int, int],
    paper: tuple[int, int],
) -> str:
    """What chapter 7's curves say, as Markdown: per approach the best point, where the build's own setting
    sits, the count at which ``target`` is reached (or the power-law extrapolation, labelled as such) and the
    input size that scored best.

    Parameters
    ----------
    summary
        The few-shot curve's summary (:func:`ebsdlib.studies.fewshot.curve_summary`): per approach and
        ``patterns_per_space_group``, ``<metric>_mean`` and ``trials``.
    size_summary
        The input-size curve's summary, per approach and ``image_size``; ``None`` or empty: no size curve.
    needed
        :func:`ebsdlib.studies.fewshot.patterns_needed` for ``target``, indexed by approach.
    target
        The score the curves are read against (the paper's, e.g. 0.97).
    metric
        ``"precision"`` or ``"recall"``.
    build
        This build's (patterns per space group, input size in px).
    paper
        The paper's (patterns per space group, input size in px).

    Returns
    -------
    str
        One Markdown bullet per approach (and per approach for the input size), then a line on the paper.
    """
    default_count, default_size = build
    paper_count, paper_size = paper
    lines = []
    for approach, part in summary.groupby("curve" if "curve" in summary else "approach", sort=False):
        part = part.sort_values("patterns_per_space_group")
        best = part.loc[part[f"{metric}_mean"].idxmax()]
        here = part[part["patterns_per_space_group"] == default_count]
        first, last = part[f"{metric}_mean"].iloc[0], part[f"{metric}_mean"].iloc[-1]
        sentence = (
            f"- **{approach}**: {metric} {'rises' if last > first else 'falls' if last < first else 'stays'} from {first:.2f} at "
            f"{int(part['patterns_per_space_group'].iloc[0])} to {last:.2f} at "
            f"{int(part['patterns_per_space_group'].iloc[-1])} patterns per space group (best "
            f"{best[f'{metric}_mean']:.2f} at {int(best['patterns_per_space_group'])})"
        )
        values = part[f"{metric}_mean"].to_numpy()
        counts = part["patterns_per_space_group"].to_numpy()
        drops = [i for i in range(1, len(values)) if values[i] < values[i - 1] - NOT_MONOTONIC_DROP]
        if drops:
            i = drops[0]
            sentence += (
                f"; it is not monotonic: {values[i - 1]:.2f} at {int(counts[i - 1])} but {values[i]:.2f} at {int(counts[i])}"
            )
            if int(part["trials"].min()) == 1:
                sentence += " (one trial per point, so the spread between trials, which may explain it, is not measured)"
        if len(here):
            trials = int(here["trials"].iloc[0])
            which = "trial 0 of the training chapter" if trials == 1 else f"the training chapter's first {trials} trials"
            sentence += f"; at this build's own setting ({default_count} patterns at {default_size} px, {which}) it is {here[f'{metric}_mean'].iloc[0]:.2f}"
        row = needed.loc[approach] if approach in needed.index else None
        if row is not None and not np.isnan(row["reached at"]):
            sentence += f". The target {target:.2f} is reached at {int(row['reached at'])} patterns per space group"
        elif row is not None and not np.isnan(row["extrapolated count"]):
            sentence += (
                f". The target {target:.2f} is not reached on the curve; a power law fitted to the error "
                f"(exponent {row['exponent']:.2f}) would reach it at about {_fmt_count(row['extrapolated count'])} "
                f"patterns per space group, an extrapolation beyond the {int(row['largest measured'])} measured"
            )
        else:
            sentence += f". The target {target:.2f} is not reached, and the error does not fall with the count on this curve"
        lines.append(sentence + ".")
    if size_summary is not None and len(size_summary):
        for approach, part in size_summary.groupby("curve" if "curve" in size_summary else "approach", sort=False):
            best = part.loc[part[f"{metric}_mean"].idxmax()]
            lines.append(
                f"- **{approach}, input size**: best {metric} {best[f'{metric}_mean']:.2f} at {int(best['image_size'])} px "
                f"among {', '.join(str(int(s)) for s in sorted(part['image_size']))} px "
                f"({int(part['patterns_per_space_group'].iloc[0])} patterns per space group)."
            )
    lines.append(
        f"\nThe paper trained on {paper_count} patterns per space group at {paper_size} px; this build's curves "
        f"end at {int(summary['patterns_per_space_group'].max())} patterns and "
        + (
            f"{int(size_summary['image_size'].max())} px."
            if size_summary is not None and len(size_summary)
            else f"{default_size} px."
        )
    )
    return "\n".join(lines)


def sources_tally(comparison: pd.DataFrame) -> dict[str, float]:
    """At how many training counts the first source of a :func:`ebsdlib.studies.fewshot.source_comparison` is
    ``ahead``, ``level`` or ``behind``, within ``margin``: :data:`SOURCES_LEVEL` where every point has two
    trials or more, :data:`SINGLE_TRIAL_LEVEL` otherwise; ``compared`` counts; all 0 when nothing was compared.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"difference": [0.25, 0.05], "trials a": [1, 1], "trials b": [1, 1]})
    >>> sources_tally(table)
    {'compared': 2, 'ahead': 1, 'level': 1, 'behind': 0, 'margin': 0.12}
    """
    if comparison.empty:
        return {"compared": 0, "ahead": 0, "level": 0, "behind": 0, "margin": SOURCES_LEVEL}
    trials = [c for c in comparison.columns if c.startswith("trials ")]
    margin = SOURCES_LEVEL if int(comparison[trials].min().min()) >= 2 else SINGLE_TRIAL_LEVEL
    ahead = int((comparison["difference"] > margin).sum())
    behind = int((comparison["difference"] < -margin).sum())
    n = len(comparison)
    return {"compared": n, "ahead": ahead, "level": n - ahead - behind, "behind": behind, "margin": margin}


def source_findings(comparison: pd.DataFrame, metric: str) -> str:
    """Transfer from two pretrained sources compared per training count, as Markdown: which is ahead at each
    count (level within :func:`sources_tally`'s margin), then a one-line tally and what one trial per point allows.

    Parameters
    ----------
    comparison
        :func:`ebsdlib.studies.fewshot.source_comparison`: per ``patterns_per_space_group``, the two curves'
        mean ``metric`` (the first named column the reference), ``difference`` and the trials of each.
    metric
        The score compared.

    Returns
    -------
    str
        One bullet per count and a closing sentence; a single sentence when nothing was compared.
    """
    if comparison.empty:
        return (
            "This build has no pair of transfer curves, one from each of the two pretrained sources, so the sources are "
            "not compared."
        )
    scores = [c for c in comparison.columns if c.startswith(f"{metric} ")]
    reference, other = (c[len(metric) + 1 :] for c in scores[:2])
    tally = sources_tally(comparison)
    margin = tally["margin"]
    lines = []
    for count, row in comparison.iterrows():
        diff = row["difference"]
        who = (
            f"{reference} ahead by {diff:.2f}"
            if diff > margin
            else (f"{other} ahead by {-diff:.2f}" if diff < -margin else f"level (difference {diff:+.2f}, within {margin:.2f})")
        )
        lines.append(
            f"- **{int(count)} patterns per space group**: {metric} {row[scores[0]]:.2f} ({reference}) against "
            f"{row[scores[1]]:.2f} ({other}): {who}."
        )
    text = (
        f"\n{reference} is ahead at {tally['ahead']} of {tally['compared']} counts, level at {tally['level']}, "
        f"behind at {tally['behind']}."
    )
    if margin == SINGLE_TRIAL_LEVEL:
        text += (
            f" One trial per point: the spread between trials is not measured here, so only a difference above "
            f"{margin:.2f} (how far the default builds' Table 1 moved between builds) counts (more trials: the "
            "chapter's `curve_trials`)."
        )
    return "\n".join(lines) + text


def generalisation_answer(rows: pd.DataFrame, sources: pd.DataFrame | None = None, chance: float = 1 / 6) -> str:
    """Chapter 8's question answered from its numbers, in one Markdown paragraph.

    Does the classifier recognise the space groups of phases and pattern sources it never saw, or only its
    training materials and simulator?

    Uses the best approach of each regime, so the answer is the most favourable the numbers allow; patterns
    from other sources count each source once (the mean of its best models' accuracies), so that one small
    favourable source does not decide. The verdict: learnt the symmetry when every unseen accuracy is at
    least :data:`LEARNT_SYMMETRY`; knows only its training data when the best is within
    :data:`NEAR_CHANCE_MARGIN` of chance; else "some of the symmetry".

    Parameters
    ----------
    rows
        Per-material accuracies of every regime (:func:`ebsdlib.studies.generalise.accuracy_by_material`).
    sources
        One row per pattern source and model (``source``, ``accuracy``, ``patterns``); default ``None``: none.
    chance
        Accuracy of guessing (default 1/6, six space groups).

    Returns
    -------
    str
        The paragraph, or ``""`` when there is no unseen regime to answer from.
    """
    mean = regime_summary(rows).groupby("regime")["mean_over_materials"].max()
    trained = mean.get("in training")
    generated = mean.get("generated only")
    per_source = None if sources is None or not len(sources) else sources.groupby("source", sort=False)["accuracy"].max()
    other = None if per_source is None else float(per_source.mean())  # each source once, its best model
    unseen = [v for v in (generated, other) if v is not None]
    if not unseen:
        return ""
    evidence = []
    if generated is not None:
        evidence.append(f"trained on generated phases alone it scores {_pct(generated)} on the paper's materials")
    if other is not None:
        sizes = sources.groupby("source", sort=False)["patterns"].max() if "patterns" in sources else None
        each = ", ".join(
            f"{name} {_pct(acc)}" + (f" of {int(sizes[name])} patterns" if sizes is not None else "")
            for name, acc in per_source.items()
        )
        evidence.append(f"on patterns from other sources than its simulator, with its best model on each, {each}")
    evidence = " and ".join(evidence) + f" (chance {_pct(chance)}"
    evidence += f"; {_pct(trained)} on the materials it trained on)" if trained is not None else ")"
    if min(unseen) >= LEARNT_SYMMETRY:
        verdict = "it recognises the space groups of phases and sources it never saw: it has learnt their symmetry"
    elif max(unseen) <= chance + NEAR_CHANCE_MARGIN:
        verdict = "it knows the materials and the simulator it was trained on, not the space groups"
    else:
        verdict = "it has learnt some of the symmetry beyond its training materials, far from all of it"
    text = f"**The answer in this build:** {verdict}: {evidence}."
    left_out, seen, same_models = left_out_against_seen(rows)
    if len(left_out) and len(seen):
        gap = 100 * (seen["accuracy"].mean() - left_out["accuracy"].mean())
        reference = "the materials the same models trained on" if same_models else "its own accuracy when it was in training"
        if abs(gap) <= CARRIES_OVER_POINTS:
            text += (
                f" A material left out of a space group the model otherwise knows scores within {abs(gap):.0f} "
                f"points of {reference}, so within one simulator what it learnt does carry over between the "
                "materials of a group; new phases and another microscope are what it does not bridge."
            )
        else:
            text += f" Even a material left out of a space group it otherwise knows scores {gap:.0f} points below {reference}."
    return text


def generalisation_findings(
    rows: pd.DataFrame, conditions: pd.DataFrame | None = None, sources: pd.DataFrame | None = None, chance: float = 1 / 6
) -> str:
    """What chapter 8's numbers say, in sentences (Markdown), ending with :func:`generalisation_answer`.

    Parameters
    ----------
    rows
        Per-material accuracies of every regime (:func:`ebsdlib.studies.generalise.accuracy_by_material`;
        regimes ``in training``, ``leave-one-out``, ``generated only``, ...).
    conditions
        One row per test acquisition and model with ``model`` and ``accuracy``; default ``None``: none.
    sources
        One row per pattern source and model with ``source``, ``model``, ``accuracy`` and ``most_predicted``;
        default ``None``: none.
    chance
        Accuracy of guessing (default 1/6).

    Returns
    -------
    str
        Markdown bullets per approach, acquisition and source, then the answer.
    """
    lines = []
    mean = regime_summary(rows).set_index(["regime", "approach"])["mean_over_materials"]
    for approach in rows["approach"].unique():
        parts = [
            f"{regime} {_pct(mean[(regime, approach)])}" for regime in rows["regime"].unique() if (regime, approach) in mean.index
        ]
        lines.append(f"- **{approach}**: mean accuracy over materials — " + "; ".join(parts) + f" (chance: {_pct(chance)}).")
        left_out, seen, same_models = left_out_against_seen(rows[rows["approach"] == approach])
        if len(left_out) and len(seen):
            drop = seen["accuracy"].mean() - left_out["accuracy"].mean()
            verb = "loses" if drop > 0 else "gains"
            against = (
                "on new patterns of the materials the same models trained on" if same_models else "when they were in training"
            )
            lines.append(
                f"  The {len(left_out)} material(s) left out of training score {_pct(left_out['accuracy'].mean())}, "
                f"against {_pct(seen['accuracy'].mean())} {against}: a material the model "
                f"never saw {verb} {abs(100 * drop):.0f} points."
            )
        if ("generated only", approach) in mean.index:
            g = mean[("generated only", approach)]
            verdict = "above" if g > chance + ABOVE_CHANCE_MARGIN else "at about"
            lines.append(
                f"  Trained on generated phases alone, it scores {_pct(g)} on the paper's 18 materials, {verdict} chance."
            )
    if conditions is not None and len(conditions):
        by_model = conditions.groupby("model", sort=False)["accuracy"].mean()
        lines.append(
            "- Outside the training ranges of acquisition, the mean accuracy over the test acquisitions is "
            + "; ".join(f"{m} {_pct(a)}" for m, a in by_model.items())
            + "."
        )
    if sources is not None and len(sources):
        for source, part in sources.groupby("source", sort=False):
            lines.append(
                f"- On {source} (face-centred cubic, 225): "
                + "; ".join(f"{r.model} {_pct(r.accuracy)} (most often {r.most_predicted})" for r in part.itertuples())
                + "."
            )
    answer = generalisation_answer(rows, sources, chance)
    return "\n".join(lines) + (f"\n\n{answer}" if answer else "")


def separability_findings(table: pd.DataFrame, approaches: tuple[str, ...], image_size: int) -> str:
    """The reader's sentences for a :func:`ebsdlib.studies.separability.separability_table` with the CNNs'
    columns (``"<approach> CNN"``, share of the two materials' test patterns given their own space group): for
    each pair, whether the patterns hold the difference at ``image_size`` (ideal observer at least
    :data:`BARELY_DIFFERENT`) and whether the CNNs use it (within :data:`CNN_SEES_IT_MARGIN` of the observer).

    Parameters
    ----------
    table
        One row per pair: ``first``, ``second``, ``space groups``, ``similarity``, ``ideal observer, <size> px``
        and the CNN columns.
    approaches
        The approaches whose ``"<approach> CNN"`` columns to read; ``()``: the observer only.
    image_size
        The input size whose observer column is read, in px.

    Returns
    -------
    str
        One Markdown bullet per pair.

    Examples
    --------
    >>> table = pd.DataFrame({"first": ["Fe3Ni", "NiAl"], "second": ["Ni", "Fe"], "space groups": ["221 / 225", "221 / 229"],
    ...     "similarity": [0.998, 0.87], "ideal observer, 72 px": [0.91, 1.0], "transfer CNN": [0.5, 0.97]})
    >>> print(separability_findings(table, ("transfer",), 72))
    - **Fe3Ni and Ni** (221 / 225; clean patterns correlate at 0.998): the ideal observer tells them apart in 91 % of patterns at 72 px, the transfer CNN in 50 %: the patterns hold the difference, the CNN does not use it.
    - **NiAl and Fe** (221 / 229; clean patterns correlate at 0.870): the ideal observer tells them apart in 100 % of patterns at 72 px, the transfer CNN in 97 %: the CNN sees it too.
    >>> print(separability_findings(table.drop(columns="transfer CNN").head(1), (), 72))
    - **Fe3Ni and Ni** (221 / 225; clean patterns correlate at 0.998): the ideal observer tells them apart in 91 % of patterns at 72 px: the patterns hold the difference.
    """
    column = f"ideal observer, {image_size} px"
    lines = []
    for _, row in table.iterrows():
        ideal = row[column]
        cnn = {approach: row[f"{approach} CNN"] for approach in approaches if pd.notna(row.get(f"{approach} CNN"))}
        seen = "".join(f", the {approach} CNN in {100 * v:.0f} %" for approach, v in cnn.items())
        worst = min(cnn.values(), default=np.nan)
        if ideal < BARELY_DIFFERENT:
            verdict = "their patterns barely differ here: no classifier of single patterns can be expected to tell them apart"
        elif not cnn:
            verdict = "the patterns hold the difference"
        elif worst >= ideal - CNN_SEES_IT_MARGIN:
            verdict = "the CNN sees it too" if len(cnn) == 1 else "the CNNs see it too"
        else:
            verdict = "the patterns hold the difference, " + (
                "the CNN does not use it" if len(cnn) == 1 else "the CNNs do not use all of it"
            )
        lines.append(
            f"- **{row['first']} and {row['second']}** ({row['space groups']}; clean patterns correlate at "
            f"{row['similarity']:.3f}): the ideal observer tells them apart in {100 * ideal:.0f} % of patterns at "
            f"{image_size} px{seen}: {verdict}."
        )
    return "\n".join(lines)


def student_sentence(verdict: dict) -> str:
    """The student's verdict (:func:`ebsdlib.bench.benchmarks.student_verdict`) as a reader reads it: each part
    of its goal (:data:`ebsdlib.bench.benchmarks.STUDENT_GOAL`) with its number and whether it is met.

    Parameters
    ----------
    verdict
        ``speed`` (× Hough), ``test_gap`` and ``map_gap`` (points, student − teacher), ``test_accuracy``,
        ``teacher_test_accuracy``, ``map_accuracy``, ``teacher_map_accuracy`` (shares), ``goal`` and ``met``
        (per part).

    Returns
    -------
    str
        One sentence.
    """
    met, goal = verdict["met"], verdict["goal"]
    points = f"{goal['test_points']:g} point" + ("" if goal["test_points"] == 1 else "s")
    parts = [
        f"{verdict['speed']:.1f}× Hough indexing's patterns per second "
        f"({'met' if met['speed'] else 'not met'}: at least {goal['speed']:.1f}×)",
        f"test accuracy {100 * verdict['test_accuracy']:.1f} % against the teacher's {100 * verdict['teacher_test_accuracy']:.1f} % "
        f"({verdict['test_gap']:+.1f} points; {'met' if met['test'] else 'not met'}: within {points})",
        f"map accuracy {100 * verdict['map_accuracy']:.1f} % against the teacher's {100 * verdict['teacher_map_accuracy']:.1f} % "
        f"({verdict['map_gap']:+.1f} points; {'met' if met['map'] else 'not met'}: no lower)",
    ]
    outcome = "meets its goal" if all(met.values()) else "falls short of its goal"
    return f"The student {outcome}: " + "; ".join(parts) + "."


def reflection_findings(separating: pd.DataFrame) -> str:
    """Where the two simulators agree and disagree on the bands that separate a material from its reference:
    per pair of :func:`ebsdlib.studies.physics.superlattice_check`, which simulator shows them.

    Examples
    --------
    >>> import pandas as pd
    >>> pairs = pd.DataFrame({"material": ["Ni3Al", "Fe3Ni"], "reference": ["Ni", "Ni"],
    ...     "seen kinematical": [True, False], "seen dynamical": [True, True]})
    >>> print(reflection_findings(pairs))
    Both simulators show the bands that separate Ni3Al from Ni. Only the dynamical simulator shows those that separate Fe3Ni from Ni.
    """
    if separating.empty:
        return "No two checked materials of different space groups have nearly the same cell: no pair was compared."
    groups = {
        (True, True): "Both simulators show the bands that separate",
        (False, True): "Only the dynamical simulator shows those that separate",
        (True, False): "Only the kinematical simulator shows those that separate",
        (False, False): "Neither simulator shows, above chance, those that separate",
    }
    sentences = []
    for (kin, dyn), opening in groups.items():
        rows = separating[(separating["seen kinematical"] == kin) & (separating["seen dynamical"] == dyn)]
        if len(rows):
            listed = ", ".join(f"{m} from {r}" for m, r in zip(rows["material"], rows["reference"], strict=True))
            sentences.append(f"{opening} {listed}.")
    return " ".join(sentences)


def _compare(rows: pd.DataFrame, test: str, metric: str, first: str, second: str) -> int:
    """+1 when ``first``'s mean on ``test`` exceeds ``second``'s by more than their two spreads together
    (the largest distance of a trial from its mean), -1 for the reverse, 0 when the spreads overlap."""
    from ebsdlib.studies.physics import physics_summary

    summary = physics_summary(rows[rows["test"] == test], metric).loc[test]
    gap = summary[first] - summary[second]
    margin = summary[f"{first} ±"] + summary[f"{second} ±"]
    return 1 if gap > margin else -1 if gap < -margin else 0


def physics_verdict(rows: pd.DataFrame, own_test: dict[str, str], others: dict[str, str]) -> dict:
    """Whether the dynamical master patterns should be the default's data, from
    :func:`ebsdlib.studies.physics.physics_comparison`'s rows: dynamical training must do as well on its own
    test split as kinematical training on its own (its mean not below by more than the two spreads together),
    and better on the majority of the tests neither simulator's training data came from, worse on none.

    Parameters
    ----------
    rows
        The comparison's rows.
    own_test
        The test split of each simulator by physics: ``{"kinematical": test, "dynamical": test}``.
    others
        The tests made by neither of the book's simulators' training data and the score each is judged by:
        ``{test: metric}`` (accuracy on another source, balanced accuracy on a map).

    Returns
    -------
    dict
        ``own`` (+1, 0 or -1: dynamical on its split against kinematical on its own, by precision),
        ``better``, ``level``, ``worse`` (counts over ``others``), ``dynamical`` (the verdict, bool) and
        ``sentence``.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"physics": ["kinematical"] * 4 + ["dynamical"] * 4, "trial": [0, 1] * 4,
    ...     "test": ["kin", "kin", "Ni", "Ni", "dyn", "dyn", "Ni", "Ni"], "patterns": 9,
    ...     "precision": [0.8, 0.82, None, None, 0.8, 0.84, None, None],
    ...     "accuracy": [0.8, 0.8, 0.0, 0.1, 0.8, 0.8, 0.6, 0.8]})
    >>> verdict = physics_verdict(rows, {"kinematical": "kin", "dynamical": "dyn"}, {"Ni": "accuracy"})
    >>> verdict["own"], verdict["better"], verdict["dynamical"]
    (0, 1, True)
    """
    from ebsdlib.studies.physics import physics_summary

    kin = physics_summary(rows[rows["test"] == own_test["kinematical"]], "precision").iloc[0]
    dyn = physics_summary(rows[rows["test"] == own_test["dynamical"]], "precision").iloc[0]
    gap = dyn["dynamical"] - kin["kinematical"]
    margin = dyn["dynamical ±"] + kin["kinematical ±"]
    own = 1 if gap > margin else -1 if gap < -margin else 0
    outcomes = [_compare(rows, test, metric, "dynamical", "kinematical") for test, metric in others.items()]
    better, worse = outcomes.count(1), outcomes.count(-1)
    level = len(outcomes) - better - worse
    dynamical = own >= 0 and worse == 0 and better > len(outcomes) / 2
    own_text = {1: "better than", 0: "as well as", -1: "worse than"}[own]
    sentence = (
        f"Trained on dynamical master patterns, the model scores on its own test split {own_text} the kinematical "
        f"model on its own (precision {dyn['dynamical']:.3f} ± {dyn['dynamical ±']:.3f} against "
        f"{kin['kinematical']:.3f} ± {kin['kinematical ±']:.3f}); on the {len(outcomes)} tests that neither "
        f"simulator's training data came from it is better on {better}, level on {level} and worse on {worse} "
        "(better: the means differ by more than the two spreads together). "
    )
    sentence += "By the rule this book set itself (as well on its own split, better on most other tests, worse on none), " + (
        "dynamical master patterns should be the default's data."
        if dynamical
        else "the default keeps kinematical master patterns."
    )
    return {"own": own, "better": better, "level": level, "worse": worse, "dynamical": dynamical, "sentence": sentence}


def not_at_hand_clause(names: list[str]) -> str:
    """The end of chapter 8's sentence on the materials its physics comparison trains on: the materials whose
    dynamical master patterns are not at hand, named, or that all are.

    Examples
    --------
    >>> not_at_hand_clause([])
    ' (all of them)'
    >>> not_at_hand_clause(["Al4CoNi2"])
    '; not at hand (computing them would take hours in a build; make master-patterns writes them): Al4CoNi2'
    """
    if not names:
        return " (all of them)"
    return "; not at hand (computing them would take hours in a build; make master-patterns writes them): " + ", ".join(names)


def settings_findings(correlations: pd.Series, settings: dict) -> str:
    """What the materials computed at other dynamical settings than the defaults are, and what those settings
    cost on Ni against EMsoft.

    Parameters
    ----------
    correlations
        :func:`~ebsdlib.studies.physics.nickel_against_emsoft`'s Pearson r by name (``"ebsdsim (dynamical)"`` and
        :func:`~ebsdlib.studies.physics.settings_label` of the materials).
    settings
        :data:`~ebsdlib.simulation.dynamical_settings.MATERIAL_SETTINGS`: material name → settings.

    Returns
    -------
    str
        A paragraph; "Every master pattern is computed at the same settings." when none departs.
    """
    if not settings:
        return "Every master pattern is computed at the same settings."
    groups: dict = {}
    for name, s in settings.items():
        groups.setdefault(s, []).append(name)
    from ebsdlib.studies.physics import listed, settings_label

    default = correlations["ebsdsim (dynamical)"]
    parts, unmeasured = [], False
    described: dict = {}
    for s, names in groups.items():
        verb = "is" if len(names) == 1 else "are"
        share = f"energies down to {s.energy_share:.0%} of their distribution"
        # settings that differ from those already described by the share of the energies only are said so
        alike = [other for other in described if replace(other, energy_share=s.energy_share, reason=s.reason) == s]
        if alike:
            computed = (
                f"{listed(names)} {verb} computed at {listed(described[alike[0]])}'s settings with {share} only ({s.reason})."
            )
        else:
            computed = (
                f"{listed(names)} {verb} computed at other settings than the rest: beams down to {s.min_dspacing:g} Å, "
                f"Bethe cutoffs {'/'.join(f'{b:g}' for b in s.bethe)}, {s.energy_bin:g}-keV energy bins"
                f"{', ' + share if s.energy_share < 1 else ''} ({s.reason})."
            )
        described[s] = names
        label = settings_label(names)
        if label not in correlations:
            parts.append(computed)
            unmeasured = True
            continue
        r = correlations[label]
        parts.append(
            f"{computed} Nickel computed at those settings correlates with EMsoft's at r = {r:.2f}, against "
            f"{default:.2f} at the defaults: {'a coarser' if r < default else 'no worse a'} likeness, which the "
            f"comparisons below inherit for {'these materials' if len(names) > 1 else 'this material'}."
        )
    if unmeasured:
        parts.append(
            "What those settings cost on nickel is not measured in this build: the dynamical simulator cannot run "
            "on this machine."
        )
    return " ".join(parts)
