"""CLI commands for the evals: `dealdesk eval run|simulate|schema` and `dealdesk conversations export`."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

eval_app = typer.Typer(help="Replay eval suites, simulate procurement agents, score and compare.", no_args_is_help=True)
conversations_app = typer.Typer(help="Recorded conversations: export them as eval suites.", no_args_is_help=True)
_probe = Console()
# Wide tables in CI logs and pipes; the terminal's own width otherwise.
out = Console(soft_wrap=True, width=None if _probe.is_terminal else 200)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_SUITES = Path(__file__).resolve().parent.parent / "evals" / "suites"


def _quiet_records() -> None:
    """Decision records still go through structlog; an eval run does not print thousands of them."""
    from agent.records import configure_logging

    configure_logging(open(os.devnull, "w"))  # noqa: SIM115


def _run_data(catalog: Optional[Path], policy: Optional[Path]) -> dict:
    """Load the run's catalog and policy once, before anything runs: a refused file is bad input (exit 2), each
    issue printed. Returns the report's `catalog` and `policy` meta (path and version)."""
    from agent.config import load_data
    from evals.simulate import data_meta
    from tools.datafile import DataFileError

    try:
        cat, pol = load_data(catalog, policy)
    except DataFileError as exc:
        named = [opt for opt, path in (("--catalog", catalog), ("--policy", policy))
                 if path is not None and any(str(path) in str(i) for i in exc.issues)]
        which = named[0] if named else "data file"
        err.print(f"[red]bad {which}[/red] ({len(exc.issues)} issue{'s' if len(exc.issues) != 1 else ''}):",
                  highlight=False)
        for issue in exc.issues:
            err.print(f"  {issue}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]bad data file[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    return data_meta(cat, pol, None if catalog is None else str(catalog), None if policy is None else str(policy))


def _writable(path: Optional[Path], option: str) -> None:
    """An output file's directory is made before the run (not found missing after it); exit 2 when it cannot be."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
    except OSError as exc:
        err.print(f"[red]bad {option}[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from None


CATALOG_HELP = "Catalog file for every case that names none (env DEALDESK_CATALOG; default examples/catalog.yaml)"
POLICY_HELP = "Policy file for every case that names none (env DEALDESK_POLICY; default examples/policy.yaml)"


def _progress(total: int, label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                    transient=True, disable=not err.is_terminal)


@eval_app.command("run")
def run(suites: Annotated[Optional[list[Path]], typer.Argument(help="JSONL suites or directories (default evals/suites)")] = None,
        model: Annotated[str, typer.Option(help="offline | openai")] = "offline",
        repeat: Annotated[int, typer.Option(min=1, max=100, help="Run each case K times (pass^k)")] = 1,
        jobs: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
        report: Annotated[Optional[Path], typer.Option("--report", help="Write the JSON report here")] = None,
        html_out: Annotated[Optional[Path], typer.Option("--html", help="Write a self-contained HTML page here")] = None,
        baseline: Annotated[Optional[Path], typer.Option(help="A previous JSON report: diff case by case")] = None,
        target: Annotated[Optional[str], typer.Option(help="Run against a live server over A2A (URL) instead")] = None,
        buyer_key: Annotated[Optional[list[str]], typer.Option("--buyer-key", help="With --target: REGION:SEGMENT=KEY "
                                                                 "[the demo keys]")] = None,
        operator_key: Annotated[Optional[str], typer.Option(help="With --target: an operator key (default: the demo key)")] = None,
        tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Only cases with this tag")] = None,
        case_id: Annotated[Optional[list[str]], typer.Option("--case", help="Only this case id")] = None,
        catalog: Annotated[Optional[Path], typer.Option("--catalog", envvar="DEALDESK_CATALOG",
                                                        help=CATALOG_HELP)] = None,
        policy: Annotated[Optional[Path], typer.Option("--policy", envvar="DEALDESK_POLICY",
                                                       help=POLICY_HELP)] = None) -> None:
    """Replay eval suites through the seller in-process and score them; exits 1 when a case fails."""
    from evals import report as rep
    from evals.case import SuiteError, load_suites
    from evals.runner import failed, run_cases, summarise

    remote = None
    if target:
        from evals.remote import DEMO_BUYER_KEYS, DEMO_OPERATOR_KEY, Target, parse_keys

        try:
            keys = parse_keys(buyer_key) if buyer_key else dict(DEMO_BUYER_KEYS)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--buyer-key") from None
        remote = Target(url=target, buyer_keys=keys, operator_key=operator_key or (
            DEMO_OPERATOR_KEY if not buyer_key else None))
        if model != "offline":
            err.print("--model is the server's own with --target; ignored")
        if catalog is not None or policy is not None:
            err.print("--catalog and --policy are the server's own with --target; ignored")
            catalog = policy = None
    if not target and model != "offline":  # refused once, before any case runs into it
        from evals.session import make_model

        try:
            make_model(model)
        except (RuntimeError, ValueError) as exc:
            err.print(f"--model {model}: {exc}", markup=False)
            raise typer.Exit(2) from None
    paths = suites or [DEFAULT_SUITES]
    try:
        cases = load_suites(paths)
    except (SuiteError, OSError) as exc:
        _bad_suite(exc)
        raise typer.Exit(2) from None
    loaded = cases
    if tag:
        cases = [c for c in cases if set(tag) & set(c.tags)]
    if case_id:
        cases = [c for c in cases if c.id in case_id]
    if not cases:
        where = ", ".join(str(p) for p in paths)
        unknown = sorted(set(case_id or ()) - {c.id for c in loaded})
        if unknown:  # a typo in --case: say which ids there are
            known = ", ".join(sorted(c.id for c in loaded)[:20]) + (", ..." if len(loaded) > 20 else "")
            err.print(f"no case {', '.join(map(repr, unknown))} in {where} (cases: {known})", markup=False)
        else:
            err.print(f"no cases to run in {where}" + (f" with tag {', '.join(tag)}" if tag else ""), markup=False)
        raise typer.Exit(2)
    prior = None
    if baseline is not None:
        try:
            prior = json.loads(baseline.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            err.print(f"[red]bad baseline[/red]: {exc}", highlight=False)
            raise typer.Exit(2) from None
        why = rep.check_report(prior)
        if why:
            err.print(f"[red]bad baseline[/red] {baseline}: {why}", highlight=False)
            raise typer.Exit(2)
    _writable(report, "--report")
    _writable(html_out, "--html")
    data = None if target else _run_data(catalog, policy)
    _quiet_records()
    started = time.perf_counter()
    with _progress(len(cases) * repeat, "evals") as bar:
        task = bar.add_task("evals", total=len(cases) * repeat)
        results = run_cases(cases, jobs=jobs, repeat=repeat, model=model, target=remote,
                            progress=lambda r: bar.advance(task), catalog=catalog, policy=policy)
    summary = summarise(results, repeat=repeat)
    doc = rep.build(results, summary, suites=[str(p) for p in paths], model=model if not target else f"server {target}",
                    jobs=jobs, seconds=time.perf_counter() - started, data=data)
    if prior is not None:
        doc["baseline"] = rep.diff(prior, doc)
    rep.print_table(doc, out)
    if report:
        rep.write_json(doc, report)
        out.print(f"wrote {report}")
    if html_out:
        rep.write_html(doc, html_out)
        out.print(f"wrote {html_out}")
    if failed(results):
        out.print(f"[red]FAILED[/red]: {', '.join(summary['failed'])}")
        raise typer.Exit(1)


def _bad_suite(exc: Exception) -> None:
    from rich.markup import escape

    for problem in getattr(exc, "problems", None) or [str(exc)]:
        err.print(f"[red]bad suite[/red]: {escape(problem)}", highlight=False)


@eval_app.command("record")
def record(suites: Annotated[list[Path], typer.Argument(help="JSONL suites to update in place")],
           jobs: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1) -> None:
    """Re-record the seller's replies in suites (like a snapshot update): review the diff before committing.

    A case that cannot run through (a fixture or override that does not load, a turn that cannot be played, a
    turn the seller raised on) is named with the reason and left as it is in the file; the command then exits 1.
    """
    from rich.markup import escape

    from evals.case import SuiteError, load_suite_lines, rewrite_suite
    from evals.runner import record as do_record
    from evals.runner import run_cases, unrecordable

    loaded = []
    for path in suites:
        try:
            loaded.append((path, load_suite_lines(path)))
        except (SuiteError, OSError) as exc:
            _bad_suite(exc)
            raise typer.Exit(2) from None
    _quiet_records()
    failures = 0
    for path, lines in loaded:
        cases = [c for _, c in lines]
        results = run_cases(cases, jobs=jobs)
        problems = unrecordable(results)
        updated = do_record(cases, results)
        rewrite_suite(path, {n: new for (n, old), new in zip(lines, updated) if new != old})
        out.print(f"recorded {len(cases) - len(problems)} of {len(cases)} case(s) in {path}", highlight=False)
        for cid, why in problems.items():
            err.print(f"[red]could not record[/red] {escape(cid)} in {escape(str(path))} (left as it was): "
                      f"{escape(why)}", highlight=False)
        failures += len(problems)
    if failures:
        raise typer.Exit(1)


@eval_app.command("simulate")
def simulate(buyers: Annotated[Optional[str], typer.Option("--buyers", help="Comma-separated strategies (default: all)")] = None,
             n: Annotated[int, typer.Option("--n", min=1, max=1_000_000, help="Negotiations")] = 100,
             seed: Annotated[int, typer.Option(help="Seed (scenarios and buyer moves)")] = 0,
             jobs: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
             report: Annotated[Optional[Path], typer.Option("--report", help="Write the JSON report here")] = None,
             db: Annotated[Optional[str], typer.Option("--db", help="Write the negotiations to this database "
                                                                    "(default: a throwaway store)")] = None,
             operator: Annotated[str, typer.Option(help="What the simulated operator does with escalations: "
                                                        "approve | reject | none")] = "approve",
             catalog: Annotated[Optional[Path], typer.Option("--catalog", envvar="DEALDESK_CATALOG",
                                                             help="Catalog file (env DEALDESK_CATALOG)")] = None,
             policy: Annotated[Optional[Path], typer.Option("--policy", envvar="DEALDESK_POLICY",
                                                            help="Policy file (env DEALDESK_POLICY)")] = None) -> None:
    """Play simulated procurement agents against the seller; exits 1 on any violation, leak or crash."""
    from evals import report as rep
    from evals.buyers import STRATEGIES
    from evals.simulate import simulate as run_sim
    from evals.simulate import simulate_failed

    names = list(dict.fromkeys(b.strip() for b in buyers.split(",") if b.strip())) if buyers else list(STRATEGIES)
    if not names:
        raise typer.BadParameter(f"no strategy named; choose from {', '.join(STRATEGIES)}", param_hint="--buyers")
    unknown = [b for b in names if b not in STRATEGIES]
    if unknown:
        raise typer.BadParameter(f"unknown {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}",
                                 param_hint="--buyers")
    if operator not in ("approve", "reject", "none"):
        raise typer.BadParameter("approve | reject | none", param_hint="--operator")
    _writable(report, "--report")
    _run_data(catalog, policy)
    _quiet_records()
    with _progress(n, "simulate") as bar:
        task = bar.add_task("simulate", total=n)
        result = run_sim(names, n, seed=seed, jobs=jobs, db=db, operator=operator,
                         catalog_path=None if catalog is None else str(catalog),
                         policy_path=None if policy is None else str(policy),
                         progress=lambda k: bar.advance(task, k))
    result["meta"]["date"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    rep.print_simulation(result, out)
    if report:
        report.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
        out.print(f"wrote {report}")
    if simulate_failed(result):
        raise typer.Exit(1)


@eval_app.command("schema")
def schema(out_file: Annotated[Optional[Path], typer.Option("--out", help="File")] = None,
           check: Annotated[bool, typer.Option("--check", help="Only check the committed file is current")] = False) -> None:
    """Write the eval case JSON Schema (schemas/eval-case.schema.json)."""
    from evals.case import SCHEMA_PATH, render_schema

    path = out_file or SCHEMA_PATH
    text = render_schema()
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            err.print(f"{path} is out of date: run `dealdesk eval schema`")
            raise typer.Exit(1)
        out.print(f"{path} is current")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {path}")


@conversations_app.command("export")
def export(since: Annotated[Optional[str], typer.Option(help="Only negotiations started on or after (YYYY-MM-DD "
                                                              "or ISO time, UTC)")] = None,
           buyer: Annotated[Optional[str], typer.Option(help="Only this buyer organisation")] = None,
           outcome: Annotated[Optional[str], typer.Option(help="deal | no_deal | open | closed | rejected")] = None,
           db: Annotated[Optional[str], typer.Option("--db", help="Database URL (env DEALDESK_DB)")] = None,
           out_file: Annotated[Optional[Path], typer.Option("--out", help="Suite file (default: stdout)")] = None,
           pseudonymise: Annotated[bool, typer.Option("--pseudonymise", help="Replace each buyer organisation by a "
                                                      "keyed digest, and in the buyer's messages e-mail addresses, "
                                                      "phone numbers and the organisation's own name by placeholders "
                                                      "(names of people and other free-text personal data are NOT "
                                                      "removed: see below)")] = False,
           limit: Annotated[int, typer.Option(min=1, help="The newest N negotiations that match the filters "
                                                          "(the filters apply first)")] = 1000) -> None:
    """Write stored negotiations as an eval suite (JSONL); each buyer message exactly as the buyer sent it.

    With --pseudonymise, scrubbed (stable placeholders within one export, not reversible without the \
export's random key): the buyer organisation in the fixture; in the buyer's text and the free-text \
strings of its data parts, e-mail addresses, phone numbers in the usual written forms (+49 30 1234567, \
(555) 123-4567, 030 1234 5678, 555-123-4567, or after "tel"/"phone"/"fax"), and the organisation's own \
name with its obvious spellings (acme-gmbh, Acme GmbH, ACME_GMBH, and Acme alone).

    NOT scrubbed: names of people (no pattern finds free-text names reliably), street addresses, other \
companies' names, a phone number written as a bare run of figures, and anything else personal the buyer \
wrote. Review an export before sharing it.
    """
    from agent.config import db_url, load_data
    from agent.service import Seller
    from evals.case import dump_case
    from evals.export import export as do_export

    _quiet_records()
    when = None
    if since:
        try:
            when = dt.datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter("YYYY-MM-DD or an ISO time", param_hint="--since") from None
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
    cat, pol = load_data()
    seller = Seller.open(cat, pol, db_url(db))
    try:
        cases = do_export(seller, since=when, buyer=buyer, outcome=outcome, pseudonymise=pseudonymise, limit=limit)
    finally:
        seller.close()
    text = "".join(dump_case(c) + "\n" for c in cases)
    if out_file:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(cases)} case(s) to {out_file}")
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
    app.add_typer(conversations_app, name="conversations")
