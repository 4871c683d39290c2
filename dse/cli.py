"""The ``dse`` command. Thin: parse options, call the library, print. Heavy imports (numba,
optuna, pandas, pyarrow) happen inside the commands so that ``dse --help`` stays instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from dse.errors import DseError

# Plain (click) help: flags show as flags and the text fits 80 columns.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Design-space exploration for AI computing systems (chiplets, GPUs, PIM; "
                       "inference, serving, training).")


def _version(value: bool) -> None:
    if value:
        from dse import __version__

        typer.echo(f"dse {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="print the version and exit")) -> None:
    """Design-space exploration for AI computing systems (chiplets, GPUs, PIM; inference, serving,
    training)."""


def _fail(err: DseError) -> None:
    typer.echo(f"dse: error: {err}", err=True)
    raise typer.Exit(2)


def _say(text: str, err: bool = False) -> None:
    """A message line, wrapped between words at the terminal's width when it goes to a terminal
    (never inside a number such as 113,829 or a path); one line into a pipe or a file, for grep."""
    stream = sys.stderr if err else sys.stdout
    if stream.isatty():
        import shutil
        import textwrap

        width = max(shutil.get_terminal_size().columns, 20)
        text = textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=False)
    typer.echo(text, err=err)


@app.command()
def search(
    workload: str = typer.Argument(..., metavar="WORKLOAD", help="workload spec (YAML)"),
    hardware: str = typer.Argument(..., metavar="HARDWARE", help="hardware spec (YAML)"),
    study: Optional[str] = typer.Option(None, help="study name (default: <workload>__<hardware>)"),
    out: Path = typer.Option(Path("results"), help="results folder; the study goes in OUT/STUDY/"),
    trials: int = typer.Option(300, min=1, max=10_000_000,
                               help="trial budget of the whole study (all workers, all runs)"),
    seed: int = typer.Option(0, min=0, max=2**31 - 1, help="seed; each worker's sampler seed derives from it "
                             "and the worker index"),
    batch: int = typer.Option(50, min=2, max=100_000, help="NSGA-II population (trials per generation)"),
    storage: Optional[str] = typer.Option(None, help="where the study lives: default OUT/_storage/STUDY/journal.log; "
                                          "memory, FILE.log, sqlite:///FILE or postgresql://USER@HOST/DB"),
    worker: Optional[int] = typer.Option(None, min=0, max=1_000_000, help="worker index (default "
                                         "$SLURM_ARRAY_TASK_ID, else 0): give each worker of a study its own"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar (on a terminal) or status lines "
                               "(elsewhere, every 5 s on stderr); one summary line"),
) -> None:
    """Multi-objective search over the specs' knobs, each point's mapping solved by its system kind.
    Re-running resumes the study; workers sharing a storage split its budget."""
    from dse.search.runner import SearchConfig
    from dse.search.worker import run_search

    cfg = SearchConfig(study=study, out=out, trials=trials, seed=seed, batch=batch, storage=storage,
                       worker=worker)
    from dse.output.progress import Progress

    progress = None if quiet else Progress()
    try:
        summary = run_search(workload, hardware, cfg, on_trial=None if quiet else progress.update)
    except DseError as err:
        _fail(err)
    finally:
        if progress is not None:
            progress.close()
    if summary.already_done:
        _say(f"study {summary.study} already has {summary.complete_before} of {summary.budget} trials "
             f"({summary.storage}); nothing to do. Raise --trials to continue it.")
        return
    _say(f"study {summary.study}: {summary.complete_after} of {summary.budget} trials complete; this "
         f"worker ({summary.worker}) told {summary.trials}: {summary.points} design points evaluated, "
         f"{summary.repeats} repeats of stored points, {summary.adopted} adopted; "
         f"{summary.mappings_evaluated:,} mappings, {summary.rows} rows in {len(summary.parts)} new part "
         f"file(s) under {summary.folder}/ ({summary.seconds:.1f} s)")
    if summary.interrupted is not None:
        import signal

        name = signal.Signals(summary.interrupted).name
        _say(f"dse: interrupted by {name}: evaluated rows written, unfinished trials failed; "
             "re-run the same command to resume", err=True)
        raise typer.Exit(128 + summary.interrupted)


@app.command()
def evaluate(
    workload: str = typer.Argument(..., metavar="WORKLOAD", help="workload spec (YAML)"),
    hardware: str = typer.Argument(..., metavar="HARDWARE", help="hardware spec (YAML)"),
    mapping: Optional[Path] = typer.Option(None, help="mapping file (YAML); default: the inner optimiser's best-throughput mapping"),
    set_: list[str] = typer.Option([], "--set", help="assign a knob: NAME=VALUE, NAME as `dse knobs` lists it "
                                   "(e.g. batch=1, tp=8); any value the field accepts"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (strict JSON: null for "
                                 "non-finite values)"),
    full: bool = typer.Option(False, "--full", help="every op in the table (default: ops grouped per model "
                              "and chiplet, or per phase and device)"),
    figure: Optional[Path] = typer.Option(None, help="also draw the latency and energy breakdown: FILE.svg "
                                          "or FILE.html"),
) -> None:
    """One design point with its full per-op cost breakdown."""
    from dse.point import evaluate_point, render

    try:
        if figure is not None:
            from dse.output.figure import check_breakdown_path

            check_breakdown_path(figure)
        result = evaluate_point(workload, hardware, mapping, set_, plain_python=True)
        render(result, as_json, full)
        if figure is not None:
            from dse.output.figure import write_breakdown
            from dse.system.base import kind_named

            what, bars = kind_named(result["kind"]).breakdown(result)
            write_breakdown(figure, f"{result['workload']} on {result['hardware']}", what, bars)
            typer.echo(f"figure written to {figure}", err=as_json)
    except DseError as err:
        _fail(err)


@app.command()
def knobs(
    workload: str = typer.Argument(..., metavar="WORKLOAD", help="workload spec (YAML)"),
    hardware: str = typer.Argument(..., metavar="HARDWARE", help="hardware spec (YAML)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """The design knobs of a workload x hardware pair: the short name `--set` accepts, the full
    name (Parquet `param.` columns), the choices or range, and the default."""
    from dse.knobs import knobs_report

    try:
        knobs_report(workload, hardware, as_json)
    except DseError as err:
        _fail(err)


@app.command()
def pareto(
    results: Path = typer.Argument(..., metavar="RESULTS", help="results folder (any number of part files) or one .parquet"),
    objectives: Optional[str] = typer.Option(None, help="comma list of COLUMN:max|min (default: the study's "
                                             "objectives, e.g. throughput_per_s:max,energy_j:min or "
                                             "tokens_per_s:max,energy_per_token_j:min)"),
    plot: bool = typer.Option(False, "--plot", help="terminal scatter of the first two objectives"),
    csv: Optional[Path] = typer.Option(None, help="also write the front as CSV"),
    limit: int = typer.Option(30, min=1, help="rows shown in the table (the CSV has all)"),
    study: Optional[str] = typer.Option(None, help="the study to read when RESULTS holds several"),
    figure: Optional[Path] = typer.Option(None, help="also draw the front of the first two objectives: "
                                          "FILE.svg or FILE.html (hover a point for its design); "
                                          "FILE.png or FILE.pdf with matplotlib installed"),
) -> None:
    """The non-dominated designs of a study."""
    from dse.output.report import pareto_report

    def mapping_view(kind: str, source: str):
        from dse.system.base import kind_named

        found = kind_named(kind, source, "dse.kind")
        return found.mapping_title, found.mapping_summary

    try:
        pareto_report(results, objectives, plot, csv, limit, study, figure, mapping_view)
    except DseError as err:
        _fail(err)


@app.command()
def validate(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (strict JSON: null for non-finite)"),
    only: Optional[str] = typer.Option(None, "-k", help="only cases whose name or group contains this text"),
) -> None:
    """How close dse is: the shipped reference cases (published and measured figures) with their
    tolerances. Exit 0 when every case marked must holds, 1 otherwise."""
    from dse.validate import load_cases, report

    cases = [c for c in load_cases() if only is None or only.lower() in (c.name + " " + c.group).lower()]
    if not cases:
        _fail(DseError("-k", "", "text matching at least one case name or group", only))
    try:
        ok = report(cases, as_json)
    except DseError as err:
        _fail(err)
    raise typer.Exit(0 if ok else 1)


@app.command()
def status(
    results: Path = typer.Argument(Path("results"), help="results folder (of studies, or one study's)"),
    storage: Optional[str] = typer.Option(None, help="the studies' shared storage (default: each study's "
                                          "OUT/_storage/STUDY/journal.log)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
) -> None:
    """Per-study progress: trials complete/budget, running, failed, waiting; rows; best so far."""
    from dse.search.status import render, status as study_status

    try:
        statuses = study_status(results, storage)
    except DseError as err:
        _fail(err)
    if as_json:
        import json

        typer.echo(json.dumps([s.as_json() for s in statuses], indent=1))
    else:
        render(statuses)


@app.command()
def batch(
    sweep: Path = typer.Argument(..., metavar="SWEEP", help="sweep file (YAML): runs of workload x hardware, options per run"),
    slurm: bool = typer.Option(False, "--slurm", help="write a Slurm job-array script (one task per worker)"),
    local: bool = typer.Option(False, "--local", help="run the tasks here as processes"),
    jobs: int = typer.Option(2, min=1, max=1024, help="--local: processes at a time"),
    script: Optional[Path] = typer.Option(None, help="--slurm: where to write the script (default "
                                          "SWEEP.sbatch next to the sweep file)"),
    submit: bool = typer.Option(False, "--submit", help="--slurm: also submit it with sbatch"),
    test_only: bool = typer.Option(False, "--test-only", help="--slurm: check it with sbatch --test-only"),
) -> None:
    """Many studies, many workers: a sweep file as a Slurm job array or local processes.
    Re-running a sweep resumes its studies."""
    from dse.batch import load_sweep, run_local, submit as sbatch, write_script

    if slurm == local:
        _fail(DseError(str(sweep), "", "exactly one of --slurm or --local"))
    if (submit or test_only or script) and not slurm:
        _fail(DseError("--submit/--test-only/--script", "", "--slurm with them"))
    if script is not None:
        from dse.output.store import check_output_file

        try:
            check_output_file(script, "--script")
        except DseError as err:
            _fail(err)
    try:
        plan = load_sweep(sweep)
        tasks = plan.tasks()
        if slurm:
            path = write_script(plan, script or sweep.with_suffix(".sbatch"))
            typer.echo(f"wrote {path}: {len(tasks)} array tasks for {len(plan.runs)} studies")
            if test_only:
                typer.echo(sbatch(path, test_only=True))
            if submit:
                typer.echo(sbatch(path))
            return
        results = run_local(plan, jobs, echo=typer.echo)
    except DseError as err:
        _fail(err)
    from dse.search.status import render, status as study_status

    statuses = [s for s in study_status(plan.out_folder, plan.storage) if s.study in {r.study for r in plan.runs}]
    render(statuses)
    failed = [(i, code) for i, code in results if code != 0]
    if failed:
        typer.echo(f"dse: {len(failed)} of {len(results)} tasks failed: " +
                   ", ".join(f"task {i} exit {code}" for i, code in failed), err=True)
        raise typer.Exit(1 if all(code > 0 and code < 128 for _, code in failed) else failed[0][1] % 256)


results_app = typer.Typer(no_args_is_help=True, help="Maintain results folders.")
app.add_typer(results_app, name="results")


@results_app.command("compact")
def results_compact(
    folder: Path = typer.Argument(..., metavar="FOLDER", help="a study's results folder (OUT/STUDY)"),
) -> None:
    """Rewrite a study's many part files as one, atomically (duplicates dropped, unreadable parts kept)."""
    from dse.output.store import compact

    try:
        final, replaced, dropped, skipped = compact(folder)
    except DseError as err:
        _fail(err)
    for path, reason in skipped:
        typer.echo(f"dse: warning: left unreadable part {path} in place ({reason})", err=True)
    typer.echo(f"{folder}: {replaced} parts -> {final.name}; {dropped} duplicate rows dropped")


def _interrupted(exc: BaseException | None) -> bool:
    """True when ``exc`` is, or was raised while handling, a KeyboardInterrupt (numba wraps one
    that arrives inside a jitted call in a SystemError)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def main() -> None:
    """Run the CLI. Usage errors (unknown option, bad option value) are one line and exit 2, like
    every other input error; Ctrl-C is "interrupted" and exit 130, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except BaseException as exc:  # noqa: BLE001 - usage errors and Ctrl-C get one line; the rest re-raised
        # Matched by class name: typer vendors click (typer._click) in recent releases, not before.
        names = {cls.__name__ for cls in type(exc).__mro__}
        ctx = getattr(exc, "ctx", None)
        if "NoArgsIsHelpError" in names:            # `dse` or `dse results` alone: its help
            typer.echo(ctx.get_help() if ctx else "")
            code = 0
        elif "ClickException" in names and hasattr(exc, "format_message"):
            command = ctx.command_path if ctx else "dse"
            typer.echo(f"dse: error: {command}: {' '.join(exc.format_message().split())} "
                       f"(see {command} --help)", err=True)
            code = 2
        elif "Abort" in names or _interrupted(exc):
            typer.echo("dse: interrupted", err=True)
            code = 130
        else:
            raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
