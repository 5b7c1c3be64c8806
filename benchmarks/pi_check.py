"""The edge on a 64-bit ARM Debian (what 64-bit Raspberry Pi OS Bookworm is), emulated: installs the
project's base from a wheel into an arm64 Debian bookworm root run by qemu, reads the samples
there and here, and compares (same text, labels and boxes; confidences within 1e-3); then runs
the edge tests inside the root.

    sudo python benchmarks/pi_check.py [--root DIR] [--rebuild] [--no-tests]     (make pi-check)

Needs root (debootstrap, chroot, mounts) and, from apt: qemu-user-static binfmt-support
debootstrap. The root is built once (about 5 minutes) and cached under ~/.cache/digits/.

What it proves: the aarch64 wheels of numpy, onnxruntime and opencv-python install from the
project's declared ranges on Debian bookworm's Python 3.11 and read the samples as on x86, and
the edge tests pass on ARM code. What it does not: speed (qemu emulates the CPU, several times
slower than a Pi and not in proportion), cameras (no Pi camera or libcamera here), a Pi's GPU-less
display, Pi OS's own packages (a plain Debian bookworm root, not Raspberry Pi OS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "digits"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,python3-pip,ca-certificates,libgl1,libglib2.0-0"
EDGE_TESTS = ["tests/test_edge.py", "tests/test_reader_photos.py", "tests/test_faults_edge.py", "tests/test_api.py",
              "tests/test_serve.py"]
VENV = "/opt/digits"  # inside the root
WORK = "/tmp/pi-check"  # inside the root: the project's files and its wheel
MNIST = "/mnt/mnist"  # inside the root: this machine's MNIST, read-only
# onnxruntime's cpuinfo library parses /proc/cpuinfo and segfaults on the host's x86 one under qemu:
# a Raspberry Pi 4's (Cortex-A72) is bind-mounted over it.
CPUINFO = "".join(
    f"processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    f"CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n" for n in range(4)
) + "Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4 (emulated)\n"
TOLERANCE = 1e-3
SAMPLES = "artifacts/samples/*.jpg"
VIDEO = "artifacts/samples/video-2159.avi"
DECODE_SNIPPET = ("import sys, cv2, numpy; c = cv2.VideoCapture(sys.argv[1]); f = []\n"
                  "while (r := c.read())[0]: f.append(r[1])\n"
                  "numpy.save(sys.argv[2], numpy.stack(f))")


class CheckError(Exception):
    pass


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, text=True, **kwargs)


def build_root(root: Path, log) -> None:
    if (root / ".digits-root-ready").exists():
        return
    partial = root.with_name(root.name + ".partial")
    log(f"building the arm64 {SUITE} root in {root} (debootstrap under qemu, a few minutes)")
    if partial.exists() and not (partial / "usr" / "bin" / "python3").exists():
        shutil.rmtree(partial)
    if not (partial / "usr" / "bin" / "python3").exists():
        run(["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(partial), MIRROR],
            stdout=subprocess.DEVNULL)
    (partial / ".digits-root-ready").write_text(f"{SUITE} arm64 minbase {PACKAGES}\n")
    partial.rename(root)


class Mounted:
    """proc (with an ARM cpuinfo), /dev, this machine's DNS, pip configuration, CA certificates, local
    package indexes and MNIST, inside the root for the duration; unmounted on the way out."""

    def __init__(self, root: Path, mnist: Path) -> None:
        self.root, self.mnist, self.mounts = root, mnist, []

    def bind(self, source: Path, target: str, read_only: bool = True) -> None:
        inside = self.root / target.lstrip("/")
        if source.is_dir():
            inside.mkdir(parents=True, exist_ok=True)
        else:
            inside.parent.mkdir(parents=True, exist_ok=True)
            inside.touch()
        run(["mount", "--bind", str(source), str(inside)])
        self.mounts.append(inside)
        if read_only:
            run(["mount", "-o", "remount,bind,ro", str(inside)])

    def __enter__(self) -> "Mounted":
        try:
            proc = self.root / "proc"
            run(["mount", "-t", "proc", "proc", str(proc)])
            self.mounts.append(proc)
            cpuinfo = self.root / "etc" / "digits-arm-cpuinfo"
            cpuinfo.write_text(CPUINFO)
            self.bind(cpuinfo, "/proc/cpuinfo")
            self.bind(Path("/dev"), "/dev", read_only=False)
            # onnxruntime's cpuinfo also reads /sys/devices/system/cpu/{possible,present} and complains without them.
            self.bind(Path("/sys"), "/sys")
            shutil.copy("/etc/resolv.conf", self.root / "etc" / "resolv.conf")
            for config in (Path("/etc/pip.conf"), Path.home() / ".config" / "pip" / "pip.conf"):
                if config.exists():
                    target = self.root / str(config).lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(config, target)
            bundle = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
            if bundle.exists():
                self.bind(bundle, "/etc/digits-host-ca.crt")
            for folder in ("/opt/wheels", "/opt/pypi", "/opt/pypi-more"):  # local indexes pip.conf may name
                if Path(folder).is_dir():
                    self.bind(Path(folder), folder)
            self.bind(self.mnist, MNIST)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for inside in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(inside)], check=False)
        self.mounts.clear()


def inside(root: Path, command: str, *, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
    """A shell command run in the root as a fresh login would (no variables of this machine's but pip's)."""
    env = {"PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "LANG": "C.UTF-8", "QEMU_CPU": "cortex-a72", "DIGITS_DATA": MNIST, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_CERT": "/etc/digits-host-ca.crt", "PIP_DEFAULT_TIMEOUT": "180"}
    result = subprocess.run(["chroot", str(root), "env", "-i", *[f"{k}={v}" for k, v in env.items()], "sh", "-c",
                             f"cd {WORK}/src && {command}"], text=True, capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise CheckError(f"inside the root, `{command}` failed ({result.returncode}):\n{tail}")
    return result


def stage_project(root: Path, log) -> str:
    """The project's tracked files under WORK/src in the root, and its wheel built here; the wheel's name."""
    work = root / WORK.lstrip("/")
    shutil.rmtree(work, ignore_errors=True)
    (work / "src").mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = work / "src" / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    with tempfile.TemporaryDirectory() as folder:
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", folder, str(REPO)],
            stdout=subprocess.DEVNULL)
        shutil.rmtree(REPO / "build", ignore_errors=True)
        wheel = next(Path(folder).glob("*.whl"))
        shutil.copy(wheel, work / wheel.name)
    log(f"staged the project and its wheel {wheel.name}")
    return wheel.name


def decode_video(path: Path) -> np.ndarray:
    capture, frames = cv2.VideoCapture(str(path)), []
    while (result := capture.read())[0]:
        frames.append(result[1])
    capture.release()
    return np.stack(frames)


def readings(lines: str) -> dict[str, dict]:
    out = {}
    for line in lines.splitlines():
        data = json.loads(line)
        key = f"{Path(data['source']).name}#{data.get('frame', '')}"
        out[key] = data
    return out


def compare(here: dict[str, dict], there: dict[str, dict]) -> list[str]:
    """What differs between two sets of --json readings beyond the tolerance."""
    problems = []
    if sorted(here) != sorted(there):
        return [f"different pictures: {sorted(set(here) ^ set(there))}"]
    for key in here:
        a, b = here[key], there[key]
        if a["text"] != b["text"]:
            problems.append(f"{key}: text {a['text']!r} here, {b['text']!r} on arm64")
        for kind in ("digits", "rejected"):
            if [(d["label"], d["box"]) for d in a[kind]] != [(d["label"], d["box"]) for d in b[kind]]:
                problems.append(f"{key}: {kind} differ: {a[kind]} vs {b[kind]}")
            elif any(abs(x["confidence"] - y["confidence"]) > TOLERANCE for x, y in zip(a[kind], b[kind])):
                problems.append(f"{key}: {kind} confidences differ by more than {TOLERANCE}")
    return problems


def frame_differences(here: dict[str, dict], there: dict[str, dict]) -> str:
    keys = [k for k in here if k in there]
    text = sum(here[k]["text"] == there[k]["text"] for k in keys)
    labels = sum([d["label"] for d in here[k]["digits"]] == [d["label"] for d in there[k]["digits"]] for k in keys)
    boxes = sum([d["box"] for d in here[k]["digits"]] == [d["box"] for d in there[k]["digits"]] for k in keys)
    box_gap = max((max(abs(a - b) for a, b in zip(x["box"], y["box"])) for k in keys
                   for x, y in zip(here[k]["digits"], there[k]["digits"])), default=0)
    return (f"same text {text}/{len(keys)}, same labels {labels}/{len(keys)}, same boxes {boxes}/{len(keys)} "
            f"(at most {box_gap} px apart), confidences at most {max_confidence_gap(here, there, keys):.1e} apart")


def max_confidence_gap(here: dict[str, dict], there: dict[str, dict], keys=None) -> float:
    return max((abs(x["confidence"] - y["confidence"]) for k in (here if keys is None else keys) for kind in ("digits", "rejected")
                for x, y in zip(here[k][kind], there[k][kind])), default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=CACHE / f"pi-root-arm64-{SUITE}")
    parser.add_argument("--rebuild", action="store_true", help="build the root again from nothing")
    parser.add_argument("--no-tests", action="store_true", help="only compare the readings")
    parser.add_argument("-k", dest="select", default=None, help="only the edge tests pytest -k selects")
    args = parser.parse_args()
    log = lambda line: print(line, flush=True)  # noqa: E731
    if os.geteuid() != 0:
        raise CheckError("needs root (debootstrap, chroot and mounts): sudo make pi-check")
    missing = [tool for tool in ("debootstrap", "qemu-aarch64-static", "chroot") if shutil.which(tool) is None]
    if missing:
        raise CheckError(f"{', '.join(missing)} not found: apt install qemu-user-static binfmt-support debootstrap")
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "status").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)])
    if not (binfmt / "qemu-aarch64").exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=False)
        if not (binfmt / "qemu-aarch64").exists():
            raise CheckError("qemu-aarch64 is not registered with binfmt_misc (apt install binfmt-support qemu-user-static)")
    sys.path.insert(0, str(REPO))
    from digits.train.paths import resolve_data_root  # torch-free

    mnist = Path(resolve_data_root(None)).resolve()
    if args.rebuild and args.root.exists():
        shutil.rmtree(args.root)
    started = time.perf_counter()
    build_root(args.root, log)
    wheel = stage_project(args.root, log)
    with Mounted(args.root, mnist):
        machine = inside(args.root, "uname -m").stdout.strip()
        if machine != "aarch64":
            raise CheckError(f"the root runs as {machine!r}, not aarch64")
        if not (args.root / VENV.lstrip("/") / "bin" / "python").exists():
            log("a venv in the root: python3 -m venv")
            inside(args.root, f"python3 -m venv {VENV}")
        t = time.perf_counter()
        inside(args.root, f"pip install -q {WORK}/{wheel} 'pytest>=8' 'onnx>=1.16' && "
                          f"pip install -q --force-reinstall --no-deps {WORK}/{wheel}")
        edge_cli = Path(sys.executable).parent / "digits-edge"
        log(f"installed the base from the wheel in the root ({time.perf_counter() - t:.0f} s)")
        versions = inside(args.root, "python -c 'import platform, numpy, cv2, onnxruntime; print(platform.machine(), "
                                     "platform.python_version(), numpy.__version__, cv2.__version__, onnxruntime.__version__)'")
        arch, py, np_v, cv_v, ort_v = versions.stdout.split()
        torch = inside(args.root, "python -c 'import torch'", check=False).returncode == 0
        log(f"in the root: {arch}, Python {py}, numpy {np_v}, OpenCV {cv_v}, onnxruntime {ort_v}; torch "
            f"{'INSTALLED' if torch else 'absent'}")
        # The samples: the same photos in must give the same reading out.
        t = time.perf_counter()
        there = readings(inside(args.root, f"digits-edge --json {SAMPLES}").stdout)
        arm_s = time.perf_counter() - t
        here = readings(subprocess.run(f"'{edge_cli}' --json {SAMPLES}", shell=True, cwd=REPO, capture_output=True,
                                       text=True, check=True).stdout)
        problems = compare(here, there)
        texts = ", ".join(f"{k[:-1]}: {r['text'] or '(none)'}" for k, r in sorted(here.items()))
        log(f"the samples read here ({platform.machine()}) and on arm64: {texts}; arm64 took {arm_s:.1f} s under qemu")
        if problems:
            for problem in problems:
                log(f"  DIFFERENT: {problem}")
        else:
            log(f"  identical: same text, labels and boxes; confidences differ by at most "
                f"{max_confidence_gap(here, there):.1e} (tolerance {TOLERANCE:g})")
        # The sample video, frame by frame: decoded here and saved losslessly (the same pixels on both),
        # and as each machine decodes it (FFmpeg's MJPEG decoder has per-CPU code). Reported, not gated.
        frames_dir = args.root / WORK.lstrip("/") / "src" / "video-frames"
        here_pixels = decode_video(REPO / VIDEO)
        frames_dir.mkdir(exist_ok=True)
        for n, frame in enumerate(here_pixels):
            cv2.imwrite(str(frames_dir / f"frame-{n:03d}.png"), frame)
        here_frames = readings(subprocess.run([str(edge_cli), "--json", str(frames_dir)], capture_output=True, text=True,
                                              check=True).stdout)
        there_frames = readings(inside(args.root, "digits-edge --json video-frames/").stdout)
        log(f"the video's {len(here_pixels)} frames, the same pixels read on both: {frame_differences(here_frames, there_frames)}")
        inside(args.root, f"python -c '{DECODE_SNIPPET}' {VIDEO} video-frames/arm64.npy")
        there_pixels = np.load(frames_dir / "arm64.npy")
        if here_pixels.shape == there_pixels.shape:
            gap = np.abs(here_pixels.astype(int) - there_pixels.astype(int))
            decoded = f"pixels differ by up to {gap.max()} (mean {gap.mean():.3f})"
        else:
            decoded = f"{len(here_pixels)} frames here, {len(there_pixels)} there"
        here_video = readings(subprocess.run([str(edge_cli), "--json", "--no-show", "--video", VIDEO], cwd=REPO,
                                             capture_output=True, text=True, check=True).stdout)
        there_video = readings(inside(args.root, f"digits-edge --json --no-show --video {VIDEO}").stdout)
        log(f"the video as each machine decodes it: {decoded}; read: {frame_differences(here_video, there_video)}")
        tests_ok = True
        if not args.no_tests:
            t = time.perf_counter()
            select = f" -k '{args.select}'" if args.select else ""
            result = inside(args.root, f"python -m pytest -q -p no:cacheprovider{select} {' '.join(EDGE_TESTS)}", check=False)
            summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
            tests_ok = result.returncode == 0
            log(f"edge tests in the root: {summary} ({time.perf_counter() - t:.0f} s under qemu)")
            if not tests_ok:
                log("\n".join(result.stdout.splitlines()[-40:]))
    log(f"pi-check {'passed' if not problems and tests_ok else 'FAILED'} in {time.perf_counter() - started:.0f} s")
    return 0 if not problems and tests_ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckError as exc:
        print(f"pi-check: {exc}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as exc:
        print(f"pi-check: {' '.join(map(str, exc.cmd))} failed ({exc.returncode})", file=sys.stderr)
        sys.exit(2)
