#!/usr/bin/env python3
"""CPU seconds per thread of one synprint run, by thread name: where a run's time goes, and so
which thread bounds it on a machine with a core for each.

  tools/thread-times.py [--runs N] -- COMMAND [ARGUMENT...]

Reads /proc/PID/task/*/stat every 20 ms while the command runs and keeps each thread's last
figures (user + system time), so a thread's last 20 ms may be missed. Threads of one name
(the workers) are listed one by one, in the order they started. With --runs N, the command is
run N times and each thread's figure is the median.
"""
import os, statistics, subprocess, sys, time

TICK = os.sysconf("SC_CLK_TCK")


def sample(pid, seen):
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        seen[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / TICK)


def run(command):
    seen = {}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None:
        sample(process.pid, seen)
        time.sleep(0.02)
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode})")
    return [seen[tid] for tid in sorted(seen)]


def main():
    arguments = sys.argv[1:]
    runs = 1
    if arguments[:1] == ["--runs"]:
        runs, arguments = int(arguments[1]), arguments[2:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        sys.exit(__doc__)
    results = [run(arguments) for _ in range(runs)]
    threads = min(len(r) for r in results)
    print("| thread | CPU seconds |\n|---|---|")
    for i in range(threads):
        name = results[0][i][0]
        seconds = statistics.median(r[i][1] for r in results)
        if seconds >= 0.01:
            print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
