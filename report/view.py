"""Stage 2: entries -> the plain values the templates and figures need.

Every number here is read from a record (or from pipeline.model.analytic_parameters applied to a
record's model config); formatting is left to the templates' filters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from pipeline.record import number

from .fmt import literal
from .highlight import highlight
from .load import Entry

PALETTE = (  # matplotlib's tab10: one colour per experiment, in matrix order, everywhere
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


@dataclass
class Figure:
    stem: str  # file name under figures/, without .svg
    svg: str = ""  # filled in by Figures.draw_all()
    data_uri: str = ""

    @property
    def path(self) -> str:
        return f"figures/{self.stem}.svg"


# The summary's two tables, column by column: (key of text.j2's `col`, style). Each row's
# values come from the experiment (summary_cells, codegen_cells); text.j2's `table_cell` formats
# a value by its style; the templates only lay the cells out.
# Bits per byte and the verdict against the seed interval sit in the summary; the code-generation
# table holds only what the summary does not (each table fits the page width, no header running
# into the next).
SUMMARY_COLUMNS = (
    ("eval_loss", "num"), ("perplexity", "ppl"), ("bpb", "num"), ("band", "band"),
    ("runtime", "duration"),
)  # fmt: skip
CODEGEN_COLUMNS = (
    ("token_accuracy", "pct"), ("key_token_loss", "num"), ("greedy_checks", "counts"),
    ("samples_valid", "pct"), ("samples_pass1", "pct"), ("samples_early", "pct"),
    ("heldout_greedy", "counts"), ("humaneval_pass1", "pct"),
)  # fmt: skip


_REPEAT = re.compile(r"(.{1,6}?)\1{5,}.{0,6}", re.S)  # a short unit, six times or more, and a tail
FIRST_LINE = 60  # characters of a completion shown in a table cell
CUT_MARK = " …[cut]"


@dataclass
class Prompt:
    name: str
    group: str  # "course" or "heldout"
    prompt: str
    completion: str
    html: Markup
    decoding: list[tuple[str, Any]]
    syntax_valid: bool | None
    patterns: list[tuple[str, bool]]
    samples: int  # sampled completions besides the main one
    samples_valid: int  # of those, how many parse
    samples_matching: int  # of those, how many contain every expected pattern
    # the first sampled completion that parses (its index, text, the sampling settings), shown
    # beside a greedy completion that degenerated into one repeated token
    good_sample: tuple[int, str, list[tuple[str, Any]]] | None = None

    @property
    def patterns_hit(self) -> bool:
        return all(ok for _, ok in self.patterns)

    @property
    def degenerate(self) -> bool:
        """The greedy completion is one token repeated: `# the the the`, `0.0.0.0.`, `#####`."""
        text = "".join(self.completion.split())
        words = self.completion.split()
        if len(words) >= 4 and len(set(words[1:])) == 1:
            return True
        return bool(_REPEAT.fullmatch(text))

    @property
    def first_line(self) -> str:
        """The completion's first non-blank line, cut at FIRST_LINE characters with a visible
        mark: a table cell holds the start of an answer, not a run of `0.0.0.…`."""
        line = next((x for x in self.completion.splitlines() if x.strip()), "")
        return line if len(line) <= FIRST_LINE else line[:FIRST_LINE] + CUT_MARK

    @property
    def prompt_line(self) -> str:
        """The prompt as one line (its last comment is the request), cut likewise."""
        text = " ⏎ ".join(x.strip() for x in self.prompt.splitlines() if x.strip())
        return text if len(text) <= FIRST_LINE else "…" + text[-FIRST_LINE:]


@dataclass
class ExperimentView:
    entry: Entry
    colour: str
    is_baseline: bool
    overrides: list[tuple[str, Any]]
    # curves, as (step, value) with non-finite values kept so the plots can mark divergence
    train_loss: list[tuple[int, float]]
    eval_loss: list[tuple[int, float]]
    learning_rate: list[tuple[int, float]]
    tokens_per_step: float | None
    diverged_at: int | None  # first logged step with a non-finite loss
    final_train_loss: float | None
    eval_loss_final: float | None
    perplexity: float | None
    step0_eval_loss: float | None
    step0_perplexity: float | None
    token_accuracy: float | None
    key_token_loss: float | None
    bits_per_byte: float | None
    runtime_s: float | None
    train_only_s: float | None  # runtime without the evaluations run during training
    tokens_per_second: float | None
    tokens_seen: float | None
    beside: int | None  # other experiments training on the machine beside this one
    steps: int | None
    mfu: float | None
    eval_results: list[tuple[str, Any]]
    prompt_samples: dict[str, Any] | None  # rates and pass@k over sampled completions
    heldout_samples: dict[str, Any] | None  # the same over the held-out prompts' samples
    humaneval: dict[str, Any] | None  # HumanEval pass@k, when the run was asked for it
    args: list[tuple[str, Any, bool]]  # (key, value, overridden)
    args_hidden: int  # TrainingArguments values in the record but not in the table
    prompts: list[Prompt]  # the course's
    heldout_prompts: list[Prompt]
    figures: dict[str, Figure] = field(default_factory=dict)
    notebook: str | None = None  # link to the rendered notebook, relative to the output folder
    # Against the baseline's noise band (report.band.mark_verdicts): a seed replica is part of it;
    # the others get their difference from its mean and "lower" / "higher" / "within".
    in_band: bool = False
    verdict: str | None = None
    band_diff: float | None = None
    resumed_at: int | None = None  # the checkpoint step an interrupted run went on from

    # Templates read the entry's fields directly off the experiment.
    name = property(lambda self: self.entry.name)
    description = property(lambda self: self.entry.description)
    state = property(lambda self: self.entry.state)
    problem = property(lambda self: self.entry.problem)
    stale = property(lambda self: self.entry.stale)
    path = property(lambda self: self.entry.path)
    weights_problem = property(lambda self: self.entry.weights_problem)

    @property
    def anchor(self) -> str:
        return f"exp-{self.entry.name}"

    @property
    def result_rows(self) -> list[tuple[str, str, Any, str]]:
        """(label key in text.j2's `results`, label suffix, value, filter) for the results
        table; optional measures appear only when the record has them."""
        rows = [
            ("eval_loss", "", self.eval_loss_final, "loss"),
            ("perplexity", "", self.perplexity, "ppl"),
            ("step0_eval_loss", "", self.step0_eval_loss, "loss"),
            ("step0_perplexity", "", self.step0_perplexity, "ppl"),
            ("token_accuracy", "", self.token_accuracy, "pct"),
            ("key_token_loss", "", self.key_token_loss, "loss"),
            ("bits_per_byte", "", self.bits_per_byte, "num"),
            ("samples_syntax_valid", "", dig(self.prompt_samples, "syntax_valid_rate"), "pct"),
            ("samples_pattern_hit", "", dig(self.prompt_samples, "pattern_hit_rate"), "pct"),
            ("samples_early_hit", "", dig(self.prompt_samples, "early_hit_rate"), "pct"),
            ("heldout_pattern_hit", "", dig(self.heldout_samples, "pattern_hit_rate"), "pct"),
            *[("samples_pass", f" {k}", v, "pct") for k, v in self.samples_pass_at_k],
            ("final_train_loss", "", self.final_train_loss, "loss"),
            ("runtime", "", self.runtime_s, "duration"),
            ("resumed_at", "", self.resumed_at, "whole"),  # None unless it resumed
            ("train_only", "", self.train_only_s, "duration"),
            ("tokens_per_second", self.beside_label, self.tokens_per_second, "whole"),
            ("tokens_seen", "", self.tokens_seen, "whole"),
            ("steps", "", self.steps, "num"),
            ("mfu", "", self.mfu, "pct"),
        ]
        always = {"eval_loss", "perplexity", "step0_eval_loss", "final_train_loss", "runtime"}
        always |= {"tokens_per_second", "tokens_seen", "steps"}
        return [r for r in rows if r[2] is not None or r[0] in always]

    @property
    def eval_set(self) -> tuple[Any, ...] | None:
        """What this run was evaluated on: the corpus and split (data.cache_key), and either the
        whole validation split in its chunking mode or the first eval_blocks blocks of its
        chunks (data.chunks_key; another tokenizer or context cuts other blocks). None without
        a record of it. Bits per byte compare only between runs with the same eval set."""
        data = dig(self.entry.record, "data") or {}
        blocks = dig(self.entry.record, "evaluation", "eval_blocks")
        if not data.get("cache_key") or blocks is None:
            return None
        if blocks == data.get("valid_chunks"):
            return (data["cache_key"], data.get("chunking_mode"), "whole validation split")
        return (data["cache_key"], data.get("chunks_key"), blocks)

    @property
    def bpb_curve(self) -> list[tuple[int, float]]:
        """The eval-loss curve in bits per byte: the eval set is fixed during a run, so each
        evaluation's loss scales by the record's final bits per byte over its final loss."""
        bpb, loss = self.bits_per_byte, self.eval_loss_final
        if bpb is None or loss is None or not (math.isfinite(bpb) and math.isfinite(loss)):
            return []
        if loss <= 0:
            return []
        return [(s, v * bpb / loss) for s, v in self.eval_loss]

    @property
    def beside_label(self) -> str:
        """What the run's tokens/s is: its own, alone or beside how many others."""
        if self.beside is None:
            return ""
        return ", trained alone" if self.beside == 0 else f", beside {self.beside} other run(s)"

    @property
    def changes(self) -> list[str]:
        """The experiment's overrides as `key = value` lines, value as it reads in TOML."""
        return [f"{key} = {literal(value)}" for key, value in self.overrides]

    @property
    def summary_cells(self) -> list[tuple[str, Any, str]]:
        """(column, value, style) of the summary table's measures, as in SUMMARY_COLUMNS."""
        values = {
            "eval_loss": self.eval_loss_final,
            "perplexity": self.perplexity,
            "bpb": self.bits_per_byte,
            "band": self,  # text.j2's band_cell reads the verdict off the experiment
            "runtime": self.runtime_s,
        }
        return [(key, values[key], style) for key, style in SUMMARY_COLUMNS]

    @property
    def codegen_cells(self) -> list[tuple[str, Any, str]]:
        """(column, value, style) of the code-generation table, as in CODEGEN_COLUMNS; counts
        are (parse, expected, of) or (expected, of) tuples, None where nothing was checked."""
        course, heldout = self.prompts, self.heldout_prompts
        values = {
            "token_accuracy": self.token_accuracy,
            "key_token_loss": self.key_token_loss,
            "greedy_checks": (
                (sum(bool(p.syntax_valid) for p in course), _hits(course), len(course))
                if course
                else None
            ),
            "samples_valid": dig(self.prompt_samples, "syntax_valid_rate"),
            "samples_pass1": dig(self.prompt_samples, "pass_at_k", "pass@1"),
            "samples_early": dig(self.prompt_samples, "early_hit_rate"),
            "heldout_greedy": (_hits(heldout), len(heldout)) if heldout else None,
            "humaneval_pass1": dig(self.humaneval, "pass_at_k", "pass@1"),
        }
        return [(key, values[key], style) for key, style in CODEGEN_COLUMNS]

    @property
    def samples_pass_at_k(self) -> list[tuple[str, float]]:
        """pass@k over the prompts' sampled completions (parses and contains what is expected)."""
        found = dig(self.prompt_samples, "pass_at_k")
        return [(k, number(v)) for k, v in found.items()] if isinstance(found, dict) else []

    @property
    def humaneval_pass_at_k(self) -> list[tuple[str, float]]:
        found = dig(self.humaneval, "pass_at_k")
        return [(k, number(v)) for k, v in found.items()] if isinstance(found, dict) else []

    @property
    def has_curves(self) -> bool:
        return bool(self.train_loss or self.eval_loss)


def _hits(prompts: list[Prompt]) -> int:
    return sum(p.patterns_hit for p in prompts)


def dig(d: Any, *keys: str) -> Any:
    """d[k1][k2]... or None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and value else None


def _finite(value: Any) -> float | None:
    try:
        x = number(value)
    except (TypeError, ValueError):
        return None
    return x if x is not None and math.isfinite(x) else None


def _curve(history: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(step, value) in step order; the last entry wins where a step is logged twice (the final
    trainer.evaluate() repeats the last step's evaluation)."""
    out: dict[int, float] = {}
    for e in history:
        if key in e and "step" in e:
            try:
                out[int(e["step"])] = number(e[key])
            except (TypeError, ValueError):
                continue
    return sorted(out.items())


def experiment_view(entry: Entry, is_baseline: bool) -> ExperimentView:
    r = entry.record or {}
    training = r.get("training") or {}
    evaluation = r.get("evaluation") or {}
    history = training.get("log_history") or []
    train_loss = _curve(history, "loss")
    eval_loss = _curve(history, "eval_loss")
    step0 = _finite(evaluation.get("step0_eval_loss"))
    if step0 is None:  # a run that stopped before its evaluation still logged step 0
        step0 = next((_finite(v) for s, v in eval_loss if s == 0), None)
    if step0 is not None and not any(s == 0 for s, _ in eval_loss):
        eval_loss = [(0, step0), *eval_loss]  # the untrained model: where every curve starts
    bad = [s for s, v in train_loss + eval_loss if v is None or not math.isfinite(v)]
    eval_results = evaluation.get("eval_results") or {}
    prompts = [_prompt(p) for p in r.get("prompts") or [] if isinstance(p, dict)]
    args = training.get("args") or {}
    configured = set((r.get("config") or {}).get("training") or {}) | {
        k.split(".", 1)[1] for k in entry.overrides if k.startswith("training.")
    }
    shown = [k for k in args if k in configured] if configured else list(args)
    overridden = {k.split(".", 1)[1] for k in entry.overrides if k.startswith("training.")}
    return ExperimentView(
        entry=entry,
        colour=PALETTE[entry.index % len(PALETTE)],
        is_baseline=is_baseline,
        overrides=sorted(entry.overrides.items()),
        train_loss=train_loss,
        eval_loss=eval_loss,
        learning_rate=_curve(history, "learning_rate"),
        tokens_per_step=_finite(training.get("tokens_per_step")),
        diverged_at=min(bad) if bad else None,
        final_train_loss=number(train_loss[-1][1]) if train_loss else None,
        eval_loss_final=number(eval_results["eval_loss"]) if "eval_loss" in eval_results else None,
        perplexity=number(evaluation.get("perplexity")),
        step0_eval_loss=step0,
        step0_perplexity=number(evaluation.get("step0_perplexity")),
        token_accuracy=number(evaluation.get("token_accuracy")),
        key_token_loss=number(evaluation.get("key_token_loss")),
        bits_per_byte=number(evaluation.get("bits_per_byte")),
        runtime_s=total_runtime(training),
        resumed_at=training.get("resumed_from_step") or None,
        train_only_s=number(training.get("train_only_s")),
        tokens_per_second=number(training.get("tokens_per_second")),
        tokens_seen=number(training.get("tokens_seen")),
        beside=training.get("experiments_beside"),
        steps=training.get("steps"),
        mfu=number(training.get("mfu")),
        eval_results=list(eval_results.items()),
        prompt_samples=_dict_or_none(evaluation.get("prompt_samples")),
        heldout_samples=_dict_or_none(evaluation.get("heldout_samples")),
        humaneval=_dict_or_none(evaluation.get("humaneval")),
        args=[(k, args[k], k in overridden) for k in shown],
        args_hidden=len(args) - len(shown),
        prompts=[p for p in prompts if p.group != "heldout"],
        heldout_prompts=[p for p in prompts if p.group == "heldout"],
    )


def total_runtime(training: dict[str, Any]) -> float | None:
    """Training time over every attempt: a resumed run's own train_runtime_s starts at its
    checkpoint, and the attempts before it are time_spent_before_resume_s."""
    runtime = number(training.get("train_runtime_s"))
    before = number(training.get("time_spent_before_resume_s"))
    return runtime + before if runtime is not None and before else runtime


def _patterns(checks: dict[str, Any]) -> list[tuple[str, bool]]:
    """(regex, found) of a prompt's checks: the record's {regex: found}."""
    return [(str(k), bool(v)) for k, v in (checks.get("patterns") or {}).items()]


def _prompt(p: dict[str, Any]) -> Prompt:
    prompt, completion = str(p.get("prompt") or ""), str(p.get("completion") or "")
    checks = p.get("checks") or {}
    found = _patterns(checks)
    raw = [s for s in p.get("samples") or [] if isinstance(s, dict)]
    samples = [s.get("checks") or {} for s in raw]
    good = next(
        (
            i
            for i, c in enumerate(samples)
            if c.get("syntax_valid") and str(c.get("checked") or "").strip()
        ),
        None,
    )
    settings = [("seed", (p.get("decoding") or {}).get("seed"))]  # the generation seed first
    settings += sorted((p.get("sampling") or {}).items())
    return Prompt(
        name=str(p.get("name") or ""),
        group=str(p.get("group") or "course"),
        prompt=prompt,
        completion=completion,
        html=highlight(prompt, completion),
        decoding=sorted((p.get("decoding") or {}).items()),
        syntax_valid=checks.get("syntax_valid"),
        patterns=found,
        samples=len(samples),
        samples_valid=sum(bool(c.get("syntax_valid")) for c in samples),
        samples_matching=sum(all(ok for _, ok in _patterns(c)) for c in samples),
        good_sample=None
        if good is None
        else (good + 1, str(raw[good].get("completion") or ""), settings),
    )


def best(experiments: list[ExperimentView]) -> ExperimentView | None:
    """Lowest bits per byte among the complete experiments, the baseline's seed runs included
    (each is a run of its own); None when no complete run has a finite one."""
    done = [
        e
        for e in experiments
        if e.state == "complete" and e.bits_per_byte is not None and math.isfinite(e.bits_per_byte)
    ]
    return min(done, key=lambda e: e.bits_per_byte) if done else None  # type: ignore[arg-type, return-value]
