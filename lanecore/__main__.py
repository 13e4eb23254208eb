"""``python -m lanecore``: a short demonstration that control work overtakes queued prompt work."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from lanecore import IMPLEMENTATION, QueueManagerBuilder, __version__


async def _demo(prompts: int, prompt_seconds: float, out: list[str]) -> tuple[float, float]:
    """Queue slow prompts, then a control command; return (control wait, last prompt wait)."""
    manager = QueueManagerBuilder().with_default_lanes().build()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    waits = {}

    def log(text: str) -> None:
        out.append(f"{(loop.time() - t0) * 1000:8.1f} ms  {text}")
        print(out[-1], flush=True)

    def prompt(n: int, submitted: float):  # type: ignore[no-untyped-def]
        async def run() -> None:
            waits[f"prompt-{n}"] = loop.time() - submitted
            log(f"prompt-{n} starts")
            await asyncio.sleep(prompt_seconds)

        run.__qualname__ = "prompt"
        return run

    async def control() -> None:
        waits["control"] = loop.time() - submitted_control
        log("control starts (pause/cancel)")

    async with manager:
        for n in range(prompts):
            manager.submit("prompt", prompt(n, loop.time()))
        log(f"submitted {prompts} prompt commands (prompt lane: priority 5, max 2 at once)")
        await asyncio.sleep(prompt_seconds / 2)
        submitted_control = loop.time()
        log("submitting a control command (control lane: priority 1)")
        manager.submit("control", control)
    last_prompt = max(v for k, v in waits.items() if k.startswith("prompt"))
    return waits["control"], last_prompt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lanecore", description="lanecore: prioritised lanes for asyncio work"
    )
    parser.add_argument("--version", action="version", version=f"lanecore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="show a control command overtaking queued prompt work")
    demo.add_argument("--prompts", type=int, default=8, help="prompt commands to queue (>= 3)")
    demo.add_argument("--prompt-ms", type=float, default=100.0, help="duration of each prompt")
    demo.add_argument("--uvloop", action="store_true", help="run on uvloop")
    sub.add_parser("info", help="print the version and which core loaded")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(f"lanecore {__version__}, core: {IMPLEMENTATION}, Python {sys.version.split()[0]}")
        return 0
    if args.command != "demo":
        parser.print_help()
        return 0
    if args.prompts < 3:
        parser.error(f"--prompts must be >= 3, got {args.prompts}")
    if not args.prompt_ms > 0:
        parser.error(f"--prompt-ms must be > 0, got {args.prompt_ms}")
    loop_factory = None
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            parser.error("--uvloop needs uvloop: pip install 'lanecore[uvloop]'")
        loop_factory = uvloop.new_event_loop
    print(
        f"lanecore {__version__} (core: {IMPLEMENTATION}, loop: "
        f"{'uvloop' if args.uvloop else 'asyncio'})"
    )
    out: list[str] = []
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        control_wait, prompt_wait = runner.run(_demo(args.prompts, args.prompt_ms / 1000, out))
    print(
        f"\ncontrol waited {control_wait * 1e3:.2f} ms; the last queued prompt waited "
        f"{prompt_wait * 1e3:.1f} ms; all done in {time.perf_counter() - started:.2f} s"
    )
    if control_wait >= prompt_wait:
        print("FAILED: control did not overtake the queued prompts", file=sys.stderr)
        return 1
    print("control overtook every queued prompt command")
    return 0


if __name__ == "__main__":
    sys.exit(main())
