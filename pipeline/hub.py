"""Opt-in upload of a finished experiment's model folder to the Hugging Face Hub ([hub] push).

    python -m pipeline.hub results/<name>/model user/name   # push one folder (again) by hand

The record is written before anything touches the network, and a push that fails (no network,
no token, no rights) is one line in the log and in the record's `hub` entry: the experiment
still counts as complete and its folder stays as it is (upload_folder only reads it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.rules import get, repo_problem


def repo_for(hub_cfg: dict[str, Any], name: str) -> str:
    """The experiment's repo id: repo_id with {name} replaced by the experiment's name, so one
    setting in defaults.toml gives every experiment its own repository."""
    return str(hub_cfg.get("repo_id", "")).replace("{name}", name)


def check_config(config: dict[str, Any], name: str = "name") -> list[str]:
    """What a push needs beyond its values (pipeline.rules checks those): the experiment's own
    repo id, and a token, looked up before any work."""
    if get(config, "hub.push") is not True or not isinstance(get(config, "hub.repo_id"), str):
        return []
    repo_id = config["hub"]["repo_id"]
    if repo_problem(repo_id):
        return []  # wrong whatever the name: pipeline.rules says so once
    problem = repo_problem(repo_id, name)  # {name} replaced by this experiment's name
    if problem:
        return [problem]
    if token() is None:
        return [
            "hub.push is true but no Hugging Face token is set: run `hf auth login` or set "
            "HF_TOKEN (or set hub.push = false)"
        ]
    return []


def token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


def push_folder(folder: Path, repo_id: str, private: bool = True) -> dict[str, Any]:
    """Upload the folder; returns the record's hub entry. Never raises for a failed push."""
    from huggingface_hub import HfApi

    entry: dict[str, Any] = {"repo_id": repo_id, "pushed": False, "url": None, "error": None}
    try:
        api = HfApi()
        # create_repo first: it fails at once without a network, where upload_folder's
        # retries with back-off would take half a minute to say the same.
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), commit_message="codegen-report model"
        )
        oid = getattr(commit, "oid", None)  # a CommitInfo; its id as text, whatever it holds
        entry.update(
            pushed=True,
            url=f"https://huggingface.co/{repo_id}",
            commit=None if oid is None else str(oid),
        )
    except Exception as e:  # network, auth, rights: reported, the local results stay
        lines = str(e).strip().splitlines()
        entry["error"] = f"{type(e).__name__}: {lines[0] if lines else ''}".strip()
        if unreachable(e):
            from huggingface_hub import constants

            entry["error"] = f"cannot reach the Hub at {constants.ENDPOINT} ({entry['error']})"
    return entry


def unreachable(e: Exception) -> bool:
    """No network, offline mode or a refused connection (not a refusal by the Hub itself)."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(e, OfflineModeIsEnabled):
        return True
    # the HTTP client's transport errors (ConnectError, ReadTimeout, ...), found by name: the
    # client's module has been renamed across huggingface_hub versions (httpx, httpx2)
    transport = any(c.__name__ == "TransportError" for c in type(e).__mro__)
    return transport and not isinstance(e, HfHubHTTPError)


def push_experiment(
    record: dict[str, Any], results: Path, write_record: Callable[[Path, Any], Any]
) -> dict[str, Any]:
    """After a complete experiment whose [hub] push is on: push its model folder, note the
    outcome in the record and write the record again (it was written once before).
    write_record is pipeline.record's, passed in: record.py imports config, which imports
    this module for its checks, so importing record here would close a cycle."""
    hub = (record.get("config") or {}).get("hub") or {}
    if hub.get("push") is not True or record.get("status") != "complete":
        return record
    if not record.get("weights"):  # not rank 0 of a DDP run: it saves no weights
        return record
    folder = results / record["weights"]
    repo = repo_for(hub, record["name"])
    print(f"    hub: pushing {folder} to {repo}", flush=True)
    record["hub"] = push_folder(folder, repo, bool(hub.get("private", True)))
    if record["hub"]["pushed"]:
        print(f"    hub: pushed to {record['hub']['url']}")
    else:
        print(
            f"    hub: push to {repo} failed ({record['hub']['error']}); the local folder is "
            f"kept: python -m pipeline.hub {folder} {repo}",
            flush=True,
        )
    try:
        write_record(results / record["name"], record)
    except (ValueError, OSError) as e:  # RecordError is a ValueError; the complete record is
        # on disk already: keep going
        print(f"    hub: the push's outcome was not added to the record ({e})", flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.hub", description=__doc__)
    p.add_argument("folder", type=Path, help="a saved model folder (results/<name>/model)")
    p.add_argument("repo_id", help='"user/name"')
    p.add_argument("--public", action="store_true", help="create a new repository public")
    args = p.parse_args(argv)
    pushed = {"hub": {"push": True, "repo_id": args.repo_id}}  # as a config would ask
    problems = [p for p in [repo_problem(args.repo_id), *check_config(pushed)] if p]  # + token
    if not args.folder.is_dir():
        problems.insert(0, f"{args.folder}: no such folder")
    if problems:
        print(f"error: {problems[0]}", file=sys.stderr)
        return 2
    entry = push_folder(args.folder, args.repo_id, private=not args.public)
    if not entry["pushed"]:
        print(f"error: push to {args.repo_id} failed: {entry['error']}", file=sys.stderr)
        return 1
    print(f"pushed {args.folder} to {entry['url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
