"""report.md and the PNG plots of an evaluation, from its results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["console_table", "write_plots", "write_report"]

PLOTS = {"score_by_difficulty.png": "Score by difficulty", "score_vs_cost.png": "Score vs cost per report",
         "tool_calls.png": "Tool calls per episode", "rubric_axes.png": "Rubric pass rate by axis"}


def _ci(summary: dict[str, Any] | None, digits: int = 3) -> str:
    if not summary or summary.get("mean") is None:
        return "–"
    return f"{summary['mean']:.{digits}f} ± {summary['ci95']:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _money(value: float | None, currency: str) -> str:
    return "–" if value is None else f"{value:.4f} {currency}"


def console_table(results: dict[str, Any]) -> list[list[str]]:
    """Rows of the headline table (header first), for the terminal."""
    currency = results["currency"]
    rows = [["policy", "score ± 95% CI", "search acc", "research", "rubrics", "mandatory", "cit. P/R", "tools",
             "cost/report", "Elo", "failed"]]
    elo = {r["player"]: r for r in results["elo"]["ratings"]}
    for name, p in results["policies"].items():
        cite = "–" if p["citation_precision"] is None else f"{p['citation_precision']:.2f}/{p['citation_recall']:.2f}"
        rows.append([name, _ci(p["score"]), _ci(p["deep_search_accuracy"], 2), _ci(p["deep_research_score"], 2),
                     _pct(p["rubric_pass_rate"]), _pct(p["mandatory_pass_rate"]), cite,
                     f"{p['tool_calls']['mean']:.1f}" if p["tool_calls"]["mean"] is not None else "–",
                     _money(p["cost_per_report"]["mean"], currency),
                     f"{elo[name]['elo']:.0f}" if name in elo else "–", f"{p['failed']}/{p['episodes']}"])
    return rows


def _markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out: str | Path, *, command: str = "") -> Path:
    out = Path(out)
    suite, currency = results["suite"], results["currency"]
    policies = results["policies"]
    lines = [f"# drgym evaluation: {suite['name']}", "",
             f"Suite `{suite['name']}` ({suite['version']}), **{suite['split']}** split: {suite['tasks']} tasks "
             f"({suite['kinds']['deep_search']} deep_search, {suite['kinds']['deep_research']} deep_research), "
             f"{results['run']['episodes_per_task']} episode(s) per task, seed {results['run']['seed']}; every "
             f"policy ran the same tasks with the same seeds."]
    if command:
        lines += ["", f"Command: `{command}`"]
    lines += ["", "## Scores", "", _markdown_table(console_table(results)), "",
              "- **score**: mean episode reward over all episodes (deep_search: 1 if the answer matches, else 0; "
              "deep_research: the rubric score Σ w·m / Σ_{w>0} w), ± the 95 % t-interval half-width. A failed "
              "episode (the policy raised, a server was down) scores 0 and is counted under *failed*.",
              "- **search acc** / **research**: the same, for each kind. **rubrics**: share of positive rubrics "
              "satisfied; **mandatory**: of those with weight ≥ 4. **cit. P/R**: citation precision (cited pages "
              "that support their sentence) and recall (factual sentences with a supporting citation).",
              "- **tools**: tool calls per episode. **cost/report**: model tokens × the price table + tool calls × "
              "their price, per deep_research report (per episode when the suite has none). **Elo**: below.", ""]
    detail = [["policy", "turns", "input tokens", "output tokens", "token count", "wall s", "fault rate",
               "cost/episode"]]
    for name, p in policies.items():
        detail.append([name, _ci(p["turns"], 1), _ci(p["input_tokens"], 0), _ci(p["output_tokens"], 0),
                       ", ".join(p["token_source"]), _ci(p["wall_s"], 2), _pct(p["fault_rate"]),
                       _money(p["cost_per_episode"]["mean"], currency)])
    lines += [_markdown_table(detail), "",
              "*token count*: `policy` = tokens the model reported; `estimated` = the environment's count of the "
              "text (~4 characters a token) for policies that report none. *fault rate*: negative rubrics "
              "(e.g. a stated low-trust value) that fired.", ""]
    lines += ["## Plots", ""] + [f"![{title}]({name})" for name, title in PLOTS.items() if (out / name).is_file()]
    elo = results["elo"]
    lines += ["", "## Elo from pairwise comparisons (deep_research)", "",
              f"{elo['comparisons']} comparisons; judge: {elo['judge']}. Bradley–Terry strengths fitted by "
              "maximum likelihood (ties count half), Elo = 1000 + 400·log10(strength), 95 % interval from "
              "500 bootstrap resamples of the tasks. The pair's order is drawn at random per task.", ""]
    if elo["ratings"]:
        lines.append(_markdown_table([["policy", "Elo", "95 % CI", "comparisons"]] + [
            [r["player"], f"{r['elo']:.0f}", f"{r['low']:.0f} – {r['high']:.0f}", str(r["games"])]
            for r in elo["ratings"]]))
    else:
        lines.append("No deep_research tasks in common: no comparisons.")
    axes = sorted({axis for p in policies.values() for axis in p["rubric_pass_rate_by_axis"]})
    if axes:
        lines += ["", "## Rubric pass rate by axis", "", _markdown_table(
            [["axis"] + list(policies)] + [[axis] + [_pct(p["rubric_pass_rate_by_axis"].get(axis))
                                                     for p in policies.values()] for axis in axes])]
    for facet, title in (("by_difficulty", "By difficulty"), ("by_domain", "By domain")):
        keys = sorted({k for p in policies.values() for k in p[facet]})
        lines += ["", f"## {title}", "", _markdown_table(
            [[facet.removeprefix("by_")] + list(policies)] +
            [[k] + [f"{_ci(p[facet].get(k), 2)} (n={p[facet][k]['n']})" if k in p[facet] else "–"
                    for p in policies.values()] for k in keys])]
    prices = results["prices"]
    lines += ["", "## Cost model", "", f"Prices from `{prices['file']}` ({currency}).", "",
              _markdown_table([["policy", "model", "input / 1k tokens", "output / 1k tokens", "source"]] +
                              [[n, m["model"], str(m["input_per_1k"]), str(m["output_per_1k"]), m["source"]]
                               for n, m in prices["models"].items()]), "",
              _markdown_table([["tool", "per call", "source"]] +
                              [[n, str(t["per_call"]), t["source"]] for n, t in prices["tools"].items()])]
    lines += ["", "## Best and worst episodes", ""]
    for name, p in policies.items():
        lines.append(f"**{name}**" + (f" — errors: {'; '.join(p['errors'])}" if p["errors"] else ""))
        for label, items in (("best", p["best"]), ("worst", p["worst"])):
            for item in items:
                lines.append(f"- {label}: {item['task_id']} ({item['kind']}) reward {item['reward']:.3f} — "
                             f"`{item['replay']}`")
        lines.append("")
    lines.append("Replay commands run from this folder.")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_plots(results: dict[str, Any], out: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    policies = results["policies"]
    names = list(policies)
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(names)}
    written = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(out / name)

    # score by difficulty: grouped bars with 95 % intervals
    levels = sorted({k for p in policies.values() for k in p["by_difficulty"]})
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(levels) + 2), 3.6))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        groups = policies[name]["by_difficulty"]
        xs = [j + i * width for j, level in enumerate(levels) if level in groups]
        means = [groups[level]["mean"] for level in levels if level in groups]
        errors = [groups[level]["ci95"] for level in levels if level in groups]
        ax.bar(xs, means, width, yerr=errors, capsize=3, label=name, color=colors[name])
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(levels))], levels)
    ax.set_ylabel("mean reward")
    ax.set_title("Score by difficulty (95 % CI)")
    ax.legend(fontsize=8)
    save(fig, "score_by_difficulty.png")

    # score vs cost per report, with the Pareto frontier
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    points = []
    for name in names:
        p = policies[name]
        x, y = p["cost_per_report"]["mean"] or 0.0, p["score"]["mean"] or 0.0
        points.append((x, y, name))
        ax.errorbar(x, y, yerr=p["score"]["ci95"] or 0, fmt="o", color=colors[name], capsize=3, label=name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    frontier, best = [], float("-inf")
    for x, y, _ in sorted(points, key=lambda t: (t[0], -t[1])):
        if y > best:
            frontier.append((x, y))
            best = y
    if len(frontier) > 1:
        ax.plot(*zip(*frontier), "--", color="grey", linewidth=1, label="Pareto frontier")
    ax.set_xlim(left=0, right=max([x for x, _, _ in points] + [1e-6]) * 1.3)
    ax.set_xlabel(f"cost per report ({results['currency']})")
    ax.set_ylabel("score")
    ax.set_title("Score vs cost per report")
    ax.legend(fontsize=8)
    save(fig, "score_vs_cost.png")

    # tool calls per episode
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    episodes = results["episodes"]
    top = max([e["tool_calls"] for e in episodes] + [1])
    bins = range(0, top + 2)
    for name in names:
        calls = [e["tool_calls"] for e in episodes if e["policy"] == name]
        ax.hist(calls, bins=bins, histtype="step", linewidth=1.6, label=name, color=colors[name])
    ax.set_xlabel("tool calls in the episode")
    ax.set_ylabel("episodes")
    ax.set_title("Tool calls per episode")
    ax.legend(fontsize=8)
    save(fig, "tool_calls.png")

    # rubric pass rate by axis
    axes = sorted({axis for p in policies.values() for axis in p["rubric_pass_rate_by_axis"]})
    if axes:
        fig, ax = plt.subplots(figsize=(6, max(2.5, 0.5 * len(axes) * max(1, len(names)) / 2 + 1)))
        height = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            rates = policies[name]["rubric_pass_rate_by_axis"]
            ax.barh([j + i * height for j in range(len(axes))], [rates.get(a) or 0 for a in axes], height,
                    label=name, color=colors[name])
        ax.set_yticks([j + height * (len(names) - 1) / 2 for j in range(len(axes))], axes)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of rubrics satisfied")
        ax.set_title("Rubric pass rate by axis (deep_research)")
        ax.legend(fontsize=8)
        save(fig, "rubric_axes.png")
    return written
