"""The ``dse`` command. Thin: parse options, call the library, print. Heavy imports (numba,
optuna, pandas, pyarrow) happen inside the commands so that ``dse --help`` stays instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from dse.errors import DseError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Design-space exploration for AI computing systems (chiplets, GPUs, PIM).")


def _fail(err: DseError) -> None:
    typer.echo(f"dse: error: {err}", err=True)
    raise typer.Exit(2)


@app.command()
def search(
    workload: str = typer.Argument(..., help="workload spec (YAML)"),
    hardware: str = typer.Argument(..., help="hardware spec (YAML)"),
    study: Optional[str] = typer.Option(None, help="study name (default: <workload>__<hardware>)"),
    out: Path = typer.Option(Path("results"), help="results folder; the study goes in OUT/STUDY/"),
    trials: int = typer.Option(300, min=1, max=10_000_000,
                               help="trial budget of the whole study (all workers, all runs)"),
    seed: int = typer.Option(0, min=0, max=2**31 - 1, help="seed; each worker's sampler seed derives from it "
                             "and the worker index"),
    batch: int = typer.Option(50, min=2, max=100_000, help="NSGA-II population (trials per generation)"),
    storage: Optional[str] = typer.Option(None, help="where the study lives: default OUT/STUDY/_optuna.log; "
                                          "memory, FILE.log, sqlite:///FILE or postgresql://USER@HOST/DB"),
    worker: Optional[int] = typer.Option(None, min=0, max=1_000_000, help="worker index (default "
                                         "$SLURM_ARRAY_TASK_ID, else 0): give each worker of a study its own"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar; one summary line"),
) -> None:
    """Multi-objective search over the specs' knobs, each point's mapping solved by its system kind.
    Re-running resumes the study; workers sharing a storage split its budget."""
    from dse.search.runner import SearchConfig, run_search

    cfg = SearchConfig(study=study, out=out, trials=trials, seed=seed, batch=batch, storage=storage,
                       worker=worker)
    try:
        if quiet:
            summary = run_search(workload, hardware, cfg)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = (TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[best]}"), TimeElapsedColumn())
            with Progress(*columns, transient=False) as progress:
                task = progress.add_task("search", total=trials, best="")

                def update(s) -> None:
                    progress.update(task, completed=s.complete_after,
                                    best=f"{s.best_text()}, {s.mappings_evaluated:,} mappings")

                summary = run_search(workload, hardware, cfg, on_trial=update)
    except DseError as err:
        _fail(err)
    if summary.already_done:
        typer.echo(f"study {summary.study} already has {summary.complete_before} of {summary.budget} trials "
                   f"({summary.storage}); nothing to do. Raise --trials to continue it.")
        return
    typer.echo(f"study {summary.study}: {summary.complete_after} of {summary.budget} trials complete; this "
               f"worker ({summary.worker}) told {summary.trials}: {summary.points} design points evaluated, "
               f"{summary.repeats} repeats of stored points, {summary.adopted} adopted; "
               f"{summary.mappings_evaluated:,} mappings, {summary.rows} rows in {len(summary.parts)} new part "
               f"file(s) under {summary.folder}/ ({summary.seconds:.1f} s)")
    if summary.interrupted is not None:
        import signal

        name = signal.Signals(summary.interrupted).name
        typer.echo(f"dse: interrupted by {name}: evaluated rows written, unfinished trials failed; "
                   "re-run the same command to resume", err=True)
        raise typer.Exit(128 + summary.interrupted)


@app.command()
def evaluate(
    workload: str = typer.Argument(..., help="workload spec (YAML)"),
    hardware: str = typer.Argument(..., help="hardware spec (YAML)"),
    mapping: Optional[Path] = typer.Option(None, help="mapping file (YAML); default: the inner optimiser's best-throughput mapping"),
    set_: list[str] = typer.Option([], "--set", help="assign a knob: NAME=VALUE (names as in `dse search` params)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """One design point with its full per-op cost breakdown."""
    from dse.point import evaluate_point, render

    try:
        result = evaluate_point(workload, hardware, mapping, set_)
    except DseError as err:
        _fail(err)
    render(result, as_json)


@app.command()
def pareto(
    results: Path = typer.Argument(..., help="results folder (any number of part files) or one .parquet"),
    objectives: Optional[str] = typer.Option(None, help="comma list of COLUMN:max|min (default: the study's "
                                             "objectives, e.g. throughput_per_s:max,energy_j:min or "
                                             "tokens_per_s:max,energy_per_token_j:min)"),
    plot: bool = typer.Option(False, "--plot", help="terminal scatter of the first two objectives"),
    csv: Optional[Path] = typer.Option(None, help="also write the front as CSV"),
    limit: int = typer.Option(30, help="rows shown in the table (the CSV has all)"),
) -> None:
    """The non-dominated designs of a study."""
    from dse.output.report import pareto_report

    try:
        pareto_report(results, objectives, plot, csv, limit)
    except DseError as err:
        _fail(err)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("dse: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
