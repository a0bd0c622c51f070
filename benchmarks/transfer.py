"""Transfer benchmark: mldock's remotes against a plain sequential SDK loop, `aws s3 sync` and obstore, on the
emulators.

    .venv/bin/python benchmarks/transfer.py            # 16 x 64 MiB and 5,000 x 4 KiB, 1 GiB RSS probe
    .venv/bin/python benchmarks/transfer.py --quick    # smaller shapes, for a smoke run
    .venv/bin/python benchmarks/transfer.py --clouds s3 --aws /tmp/awscli-venv/bin/aws
    .venv/bin/python benchmarks/transfer.py --clouds gs,az --shapes small --no-rss
    .venv/bin/python benchmarks/transfer.py --small-count 2000 --large-count 3 --no-rss   # the issue's shapes
    .venv/bin/python benchmarks/transfer.py --shapes '' --count-sample 0 --rss-mib 1024  # the memory probe alone
    .venv/bin/python benchmarks/transfer.py --clouds gs,az --shapes small --small-count 6000 --count-sample 0 \
        --no-rss --contenders 'mldock 1 proc'       # worker processes against one process, on a long download

obstore (`pip install 'mldock[bench]'`) joins when installed; `aws` when on PATH (or --aws). For small files,
"mldock 1 proc" is mldock kept in one process (MLDOCK_TRANSFER_PROCESSES=1): what the worker processes a
download adds while one process is the limit (mldock.storage.spread) bring. fake-gcs-server
has no XML API upload or listing, which obstore's GCS store uses: its GCS uploads are skipped, and its downloads
fetch the keys the benchmark wrote.

For each cloud and shape, every contender uploads then downloads the tree against an emulator of its own,
started fresh (the emulators slow down as they fill, so a shared one would favour whoever went first); the
clients are made before the clock starts. One table prints MiB/s, files/s, the emulator's CPU per file and
how busy it was, mldock's ratio to each other contender, and the bound: the most that ratio can be when the
emulator's own CPU per request is the limit (all measured in this one run: the machines are shared and noisy,
so compare ratios). The memory probe downloads one large object in a child process and reports its peak RSS,
which must stay under 200 MiB: transfers stream to disk.

Requests per object are counted in a separate pass (a transparent counting proxy in front of a fresh emulator,
tests/integration/storage/request_counter.py, on --count-sample small files), so the proxy's CPU stays out of
the timed runs. Every ratio column divides the contender's figure by mldock's in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
RSS_LIMIT_MIB = 200
CONCURRENCY = 16  # obstore's files in flight: mldock's DEFAULT_CONCURRENCY
SDK_FLOOR = "SDK floor"  # one bare SDK request per object, one thread, from and to memory
ONE_PROCESS = "mldock 1 proc"  # mldock with MLDOCK_TRANSFER_PROCESSES=1
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration" / "storage"))
Up = Callable[[Path, str], object]  # (source folder, bucket)
Down = Callable[[str, Path], object]  # (bucket, destination folder)


@dataclass(frozen=True)
class Shape:
    name: str
    count: int
    size: int


@dataclass(frozen=True)
class Result:
    cloud: str
    shape: str
    direction: str
    contender: str
    seconds: float
    files: int
    nbytes: int
    client_cpu: float  # seconds of CPU this process and its children (aws, workers) spent meanwhile, all threads
    emulator_cpu: float  # seconds of CPU the emulator spent meanwhile
    processes: int = 1  # mldock's downloads: the processes that took part (TransferReport.processes)

    @property
    def mib_s(self) -> float:
        return self.nbytes / MiB / self.seconds

    @property
    def files_s(self) -> float:
        return self.files / self.seconds


def make_tree(root: Path, shape: Shape) -> Path:
    folder = root / shape.name
    block = os.urandom(min(shape.size, MiB))
    for i in range(shape.count):
        path = folder / f"part-{i // 1000:02d}" / f"file-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            written = 0
            while written < shape.size:
                chunk = block[: shape.size - written]
                handle.write(i.to_bytes(8, "big") + chunk[8:] if written == 0 and len(chunk) >= 8 else chunk)
                written += len(chunk)
    return folder


def files_of(folder: Path) -> list[tuple[Path, str]]:
    return sorted((p, p.relative_to(folder).as_posix()) for p in folder.rglob("*") if p.is_file())


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- the sequential SDK loops (what a script without mldock does) -----------------------------------------


def sequential(cloud: str) -> tuple[Callable[[Path, str, str], None], Callable[[str, str, Path], None]]:
    """(upload(folder, bucket, prefix), download(bucket, prefix, folder)), one file after another."""
    if cloud == "s3":
        import boto3

        client = boto3.client("s3")

        def s3_up(folder: Path, bucket: str, prefix: str) -> None:
            for path, rel in files_of(folder):
                client.upload_file(str(path), bucket, f"{prefix}/{rel}")

        def s3_down(bucket: str, prefix: str, dest: Path) -> None:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
                for obj in page.get("Contents", []):
                    target = dest / obj["Key"][len(prefix) + 1 :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, obj["Key"], str(target))

        return s3_up, s3_down
    if cloud == "gs":
        from google.cloud import storage

        gcs = storage.Client()

        def gs_up(folder: Path, bucket: str, prefix: str) -> None:
            for path, rel in files_of(folder):
                gcs.bucket(bucket).blob(f"{prefix}/{rel}").upload_from_filename(str(path))

        def gs_down(bucket: str, prefix: str, dest: Path) -> None:
            for blob in gcs.list_blobs(bucket, prefix=prefix + "/"):
                target = dest / blob.name[len(prefix) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                blob.download_to_filename(str(target))

        return gs_up, gs_down
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])

    def az_up(folder: Path, bucket: str, prefix: str) -> None:
        for path, rel in files_of(folder):
            with path.open("rb") as handle:
                service.get_blob_client(bucket, f"{prefix}/{rel}").upload_blob(handle, overwrite=True)

    def az_down(bucket: str, prefix: str, dest: Path) -> None:
        container = service.get_container_client(bucket)
        for blob in container.list_blobs(name_starts_with=prefix + "/"):
            target = dest / blob.name[len(prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                container.download_blob(blob.name).readinto(handle)

    return az_up, az_down


def aws_sync(aws: str, source: str, target: str) -> None:
    result = subprocess.run([aws, "s3", "sync", "--only-show-errors", source, target], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"aws s3 sync failed: {result.stderr[-2000:]}")


# -- the SDKs' floor: one bare request per object ----------------------------------------------------------


def sdk_requests(cloud: str, bucket: str) -> tuple[Callable[[str, bytes], object], Callable[[str], bytes]]:
    """(put(key, data), get(key)) as one plain SDK call each, to and from memory, with the SDK's defaults."""
    if cloud == "s3":
        import boto3

        s3 = boto3.client("s3")
        return (
            lambda key, data: s3.put_object(Bucket=bucket, Key=key, Body=data),
            lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
        )
    if cloud == "gs":
        from google.cloud import storage

        gcs = storage.Client().bucket(bucket)
        return lambda key, data: gcs.blob(key).upload_from_string(data), lambda key: gcs.blob(key).download_as_bytes()
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    ).get_container_client(bucket)
    return (
        lambda key, data: container.upload_blob(key, data, overwrite=True),
        lambda key: container.download_blob(key).readall(),
    )


def sdk_floor(cloud: str, shape: Shape, emulator: Any) -> list[Result]:
    """The client CPU one SDK request per object costs with nothing around it (no files, no threads, no mldock
    code): the least any transfer engine built on the SDK can spend per object. One thread, `shape.count`
    objects of `shape.size` bytes up, then down."""
    emulator.create_bucket("floor")
    put, get = sdk_requests(cloud, "floor")
    data = os.urandom(shape.size)
    put("warm-up", data)
    get("warm-up")
    keys = [f"floor/{i:05d}" for i in range(shape.count)]
    nbytes = shape.count * shape.size
    up = timed(lambda: [put(key, data) for key in keys], emulator.pid)
    down = timed(lambda: [get(key) for key in keys], emulator.pid)
    return [
        Result(cloud, shape.name, "upload", SDK_FLOOR, up[0], shape.count, nbytes, *up[1:]),
        Result(cloud, shape.name, "download", SDK_FLOOR, down[0], shape.count, nbytes, *down[1:]),
    ]


# -- obstore (Rust object_store behind Python bindings, async) -----------------------------------------------


def obstore_store(cloud: str, bucket: str, work: Path) -> Any:
    """An obstore store for `bucket` on the emulator the environment names (its own settings: obstore reads no
    STORAGE_EMULATOR_HOST and no connection string)."""
    from obstore.store import AzureStore, GCSStore, S3Store

    http = {"allow_http": True}
    if cloud == "s3":
        return S3Store(
            bucket,
            endpoint=os.environ["AWS_ENDPOINT_URL"],
            access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            region=os.environ["AWS_DEFAULT_REGION"],
            virtual_hosted_style_request=False,
            client_options=http,
        )
    if cloud == "gs":  # a service-account file is obstore's only way to an unauthenticated endpoint
        account = work / "obstore-gcs.json"
        account.write_text(
            json.dumps(
                {
                    "gcs_base_url": os.environ["STORAGE_EMULATOR_HOST"],
                    "disable_oauth": True,
                    "client_email": "",
                    "private_key": "",
                    "private_key_id": "",
                }
            )
        )
        return GCSStore(bucket, service_account=str(account), client_options=http)
    parts = dict(p.split("=", 1) for p in os.environ["AZURE_STORAGE_CONNECTION_STRING"].split(";") if "=" in p)
    return AzureStore(
        bucket,
        account_name=parts["AccountName"],
        account_key=parts["AccountKey"],
        endpoint=parts["BlobEndpoint"],
        client_options=http,
    )


async def _bounded(jobs: list[Callable[[], Any]]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(job: Callable[[], Any]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


def obstore_up(cloud: str, work: Path, folder: Path, bucket: str) -> None:
    """Every file, CONCURRENCY at a time (obstore splits large ones into parts itself)."""
    import obstore as obs

    store = obstore_store(cloud, bucket, work)
    jobs = [partial(obs.put_async, store, f"data/{rel}", path) for path, rel in files_of(folder)]
    asyncio.run(_bounded(jobs))


def obstore_down(cloud: str, work: Path, keys: dict[str, list[str]], bucket: str, dest: Path) -> None:
    """List, then every object streamed to its file, CONCURRENCY at a time. On GCS the keys are the ones the
    benchmark wrote (`keys[bucket]`): fake-gcs-server does not answer obstore's XML API listing."""
    import obstore as obs

    store = obstore_store(cloud, bucket, work)

    async def fetch(key: str) -> None:
        target = dest / key[len("data/") :]
        target.parent.mkdir(parents=True, exist_ok=True)
        response = await obs.get_async(store, key)
        with target.open("wb") as handle:
            async for chunk in response.stream(min_chunk_size=8 * MiB):
                handle.write(chunk)

    async def run() -> None:
        if cloud == "gs":
            names = [f"data/{rel}" for rel in keys[bucket]]
        else:
            names = [meta["path"] async for batch in obs.list(store, "data/") for meta in batch]
        await _bounded([partial(fetch, key) for key in names])

    asyncio.run(run())


# -- the memory probe ------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM (reset by exec, unlike ru_maxrss, which keeps the forking parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(uri: str, dest: str) -> None:
    """Child mode: download `uri` with mldock and print peak RSS before and after, in MiB."""
    from mldock.storage import parse_uri, remote_for

    parsed = parse_uri(uri)
    remote = remote_for(parsed)
    remote.list(parsed)  # SDK imported, client made: the baseline
    baseline = peak_rss_mib()
    started = time.perf_counter()
    report = remote.download(parsed, Path(dest))
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak, "bytes": report.bytes, "seconds": seconds}))


def rss_probe(cloud: str, emulator: Any, work: Path, size: int) -> dict[str, float]:
    from mldock.storage import parse_uri, remote_for

    bucket = "rss-probe"
    emulator.create_bucket(bucket)
    src = work / "rss-src"
    src.mkdir()
    block = os.urandom(MiB)
    with (src / "one-big.bin").open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(block)
    uri = f"{cloud}://{bucket}/rss"
    patient = {**os.environ, "MLDOCK_STORAGE_TIMEOUT": "600"}  # the emulators slow down on large objects
    remote_for(uri, patient).upload(src, parse_uri(uri))
    shutil.rmtree(src)
    dest = work / "rss-dest"
    # moto serves a range of a large object in time that grows with the object (about 0.5 s of CPU per 8 MiB
    # range of a 1 GiB object): a generous storage timeout keeps the emulator's slowness out of a memory figure
    child = subprocess.run(
        [sys.executable, __file__, "--rss-child", uri, str(dest)],
        capture_output=True,
        text=True,
        env=patient,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the memory probe's child failed on {uri}: {child.stderr[-3000:]}")
    out = child.stdout
    shutil.rmtree(dest, ignore_errors=True)
    emulator.delete_bucket(bucket)
    data: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return data


# -- the run ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, all threads) the process `pid` has used so far; 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], object], pid: int | None) -> tuple[float, float, float]:
    """(wall seconds, client CPU seconds, emulator CPU seconds) of `fn()`."""
    emulator, client, started = cpu_seconds(pid), os.times(), time.perf_counter()
    fn()
    wall, after = time.perf_counter() - started, os.times()
    spent = sum(after[:4]) - sum(client[:4])  # user, system, children's user and system
    return wall, spent, cpu_seconds(pid) - emulator


def _keep(into: list[object], fn: Callable[[], object]) -> None:
    into.append(fn())


def contender_names(cloud: str, args: argparse.Namespace, shape: str = "small") -> list[str]:
    names = ["mldock", "sequential"]
    if shape == "small":  # worker processes join downloads of small files only
        names.append(ONE_PROCESS)
    if cloud == "s3" and args.aws:
        names.append("aws s3 sync")
    if importlib.util.find_spec("obstore") is not None:
        names.append("obstore")
    if args.contenders:  # mldock always runs: every ratio is to it
        names = [name for name in names if name == "mldock" or name in args.contenders]
    return names


def contender(cloud: str, name: str, args: argparse.Namespace) -> tuple[Up | None, Down]:
    """(upload, download) of the contender `name`, its client made now (inside the emulator's environment,
    before the clock starts, as the sequential loops make theirs); upload None when it cannot run here."""
    if name in ("mldock", ONE_PROCESS):
        from mldock.storage import parse_uri, remote_for
        from mldock.storage.spread import SpreadPlan

        remote = remote_for(f"{cloud}://probe")
        if name == ONE_PROCESS:
            remote.spread_plan = SpreadPlan(processes=1)  # type: ignore[attr-defined]
        for client in ("client", "bulk_client"):
            getattr(remote, client, None)
        return (
            lambda folder, bucket: remote.upload(folder, parse_uri(f"{cloud}://{bucket}/data")),
            lambda bucket, dest: remote.download(parse_uri(f"{cloud}://{bucket}/data"), dest),
        )
    if name == "sequential":
        seq_up, seq_down = sequential(cloud)
        return (lambda folder, bucket: seq_up(folder, bucket, "data"), lambda b, d: seq_down(b, "data", d))
    if name == "obstore":
        up = None if cloud == "gs" else partial(obstore_up, cloud, args.work)  # fake-gcs-server: no XML API PUT
        return up, partial(obstore_down, cloud, args.work, args.keys)
    return (
        lambda folder, bucket: aws_sync(args.aws, str(folder), f"s3://{bucket}/data"),
        lambda bucket, dest: aws_sync(args.aws, f"s3://{bucket}/data", str(dest)),
    )


def fill(cloud: str, name: str, up: Up | None, tree: Path, bucket: str, args: argparse.Namespace) -> Up | None:
    """`up`, or when the contender cannot upload here, None after filling `bucket` with mldock (untimed)."""
    if up is None:
        seed, _ = contender(cloud, "mldock", args)
        assert seed is not None
        seed(tree, bucket)
        print(
            f"  {cloud:3} {name}: upload skipped (not supported by the emulator), bucket filled by mldock",
            file=sys.stderr,
        )
    return up


def emulator_env(cloud: str, url: str) -> dict[str, str]:
    """The settings that reach an emulator of `cloud` at `url` (the counting proxy)."""
    from mldock.emulators.azure import azure_env
    from mldock.emulators.gcs import gcs_env
    from mldock.emulators.s3 import s3_env

    return {"s3": s3_env, "gs": gcs_env, "az": azure_env}[cloud](url)


def count_requests(cloud: str, tree: Path, work: Path, args: argparse.Namespace) -> dict[tuple[str, str], int]:
    """{(contender, direction): requests} for moving the files of `tree`, counted by a proxy in front of a fresh
    emulator per contender (listing and bucket lookups included)."""
    from request_counter import RequestCounter

    from mldock.emulators import emulator_for

    counts: dict[tuple[str, str], int] = {}
    for name in contender_names(cloud, args):
        if (cloud, name) == ("gs", "obstore"):  # fake-gcs-server serves its XML API only on its own Host
            print(
                "  gs  obstore: requests not counted (the proxy's Host header is not the emulator's)", file=sys.stderr
            )
            continue
        with (
            emulator_for(cloud) as emulator,
            RequestCounter(emulator.port) as proxy,
            environ(emulator_env(cloud, proxy.url)),
        ):
            up, down = contender(cloud, name, args)
            emulator.create_bucket("count")
            if fill(cloud, name, up, tree, "count", args) is not None:
                assert up is not None
                proxy.clear()
                up(tree, "count")
                counts[(name, "upload")] = len(proxy.requests)
            proxy.clear()
            down("count", work / "count-dest")
            counts[(name, "download")] = len(proxy.requests)
            shutil.rmtree(work / "count-dest")
    return counts


def bench_cloud(
    cloud: str, shapes: list[Shape], trees: dict[str, Path], work: Path, args: argparse.Namespace
) -> tuple[list[Result], dict[str, float] | None]:
    """Every contender gets an emulator of its own, started fresh: the emulators slow down as they fill (their
    in-memory stores search linearly), so sharing one would favour whoever runs first."""
    from mldock.emulators import emulator_for

    results: list[Result] = []
    for shape in shapes:
        nbytes = shape.count * shape.size
        for index, name in enumerate(contender_names(cloud, args, shape.name)):
            with emulator_for(cloud) as emulator, environ(emulator.env()):
                up, down = contender(cloud, name, args)
                bucket = f"bench-{shape.name}"
                emulator.create_bucket(bucket)
                if fill(cloud, name, up, trees[shape.name], bucket, args) is not None:
                    assert up is not None
                    cpu = timed(partial(up, trees[shape.name], bucket), emulator.pid)
                    results.append(Result(cloud, shape.name, "upload", name, cpu[0], shape.count, nbytes, *cpu[1:]))
                dest = work / f"dest-{cloud}-{shape.name}-{index}"
                report: list[object] = []
                cpu = timed(partial(_keep, report, partial(down, bucket, dest)), emulator.pid)
                got = files_of(dest)
                if len(got) != shape.count or sum(p.stat().st_size for p, _ in got) != nbytes:
                    raise RuntimeError(f"{name} on {cloud}/{shape.name}: {len(got)} files arrived")
                processes = getattr(report[0], "processes", 1)
                results.append(
                    Result(cloud, shape.name, "download", name, cpu[0], shape.count, nbytes, *cpu[1:], processes)
                )
                shutil.rmtree(dest)
            print(f"  {cloud:3} {shape.name:6} {name:12} done", file=sys.stderr, flush=True)
        if shape.name == "small" and (not args.contenders or SDK_FLOOR in args.contenders):
            with emulator_for(cloud) as emulator, environ(emulator.env()):
                results.extend(sdk_floor(cloud, shape, emulator))
            print(f"  {cloud:3} {shape.name:6} {SDK_FLOOR:12} done", file=sys.stderr, flush=True)
    rss = None
    if args.rss_size:
        with emulator_for(cloud) as emulator, environ(emulator.env()):
            try:
                rss = rss_probe(cloud, emulator, work, args.rss_size)
            except Exception as exc:  # reported, and the transfer figures are kept
                print(f"  {cloud:3} memory probe failed: {exc}", file=sys.stderr)
    return results, rss


def bound(contender: Result, ref: Result) -> float:
    """The most mldock's ratio to `contender` can be, given the CPU mldock's run used: no faster than the
    emulator's CPU time (it serves one request at a time) nor than all CPU time spread over every core."""
    floor = max(ref.emulator_cpu, (ref.client_cpu + ref.emulator_cpu) / (os.cpu_count() or 1))
    return contender.seconds / floor if floor else float("inf")


def per_file(r: Result) -> float:
    """Client CPU seconds per file."""
    return r.client_cpu / r.files


def floor_seconds(r: Result) -> float:
    """The shortest time the CPU `r` used allows: the emulator's CPU time (it serves one request at a time),
    or all CPU time spread over every core."""
    return max(r.emulator_cpu, (r.client_cpu + r.emulator_cpu) / (os.cpu_count() or 1))


def print_table(results: list[Result], counts: dict[tuple[str, str, str], tuple[int, int]]) -> None:
    print(
        f"\n{'cloud':5} {'shape':7} {'dir':8} {'contender':12} {'MiB/s':>8} {'files/s':>9} {'req/obj':>8} "
        f"{'cli ms/f':>9} {'emu ms/f':>9} {'emu busy':>8} {'of bound':>8} {'mldock x':>9} {'bound x':>8} {'cli x':>7} "
        f"{'emu x':>7}"
    )
    for r in results:
        ref = mldock_of(results, r)
        others = r.contender != "mldock"
        ratio = f"{r.seconds / ref.seconds:8.2f}x" if others else ""
        most = f"{bound(r, ref):7.2f}x" if others else ""
        cli = f"{r.client_cpu / ref.client_cpu:6.2f}x" if others and ref.client_cpu else ""
        emu = f"{r.emulator_cpu / ref.emulator_cpu:6.2f}x" if others and ref.emulator_cpu else ""
        sent = counts.get((r.cloud, r.direction, r.contender)) if r.shape == "small" else None
        per = f"{sent[0] / sent[1]:8.2f}" if sent else ""
        print(
            f"{r.cloud:5} {r.shape:7} {r.direction:8} {r.contender:12} {r.mib_s:8.1f} {r.files_s:9.1f} {per:>8} "
            f"{r.client_cpu / r.files * 1000:9.2f} {r.emulator_cpu / r.files * 1000:9.2f} "
            f"{r.emulator_cpu / r.seconds:7.0%} {floor_seconds(r) / r.seconds:7.0%} {ratio:>9} {most:>8} {cli:>7} "
            f"{emu:>7}"
        )
    print(
        "\nreq/obj: requests per object (listing and bucket lookup included) in the counting pass; cli/emu ms/f: CPU\n"
        "per file of the client (all threads; aws: its processes) and of the emulator; emu busy: the emulator's CPU\n"
        "time over the wall time (100% = one core); of bound: the shortest time the run's CPU allows (see below)\n"
        "over its time, for every contender. mldock x: the contender's time over mldock's (above 1: mldock\n"
        "is faster); bound x: the most `mldock x` can be with the CPU mldock's run used: its time can be no shorter\n"
        "than the emulator's CPU time (Azurite and moto serve one request at a time, fake-gcs-server locks its\n"
        f"store) nor than all CPU time over the {os.cpu_count()} cores. cli x / emu x: the contender's client /\n"
        "emulator CPU over mldock's (above 1: mldock uses less).\n"
    )


def mldock_of(results: list[Result], r: Result) -> Result:
    return next(
        x for x in results if (x.cloud, x.shape, x.direction, x.contender) == (r.cloud, r.shape, r.direction, "mldock")
    )


def print_figures(results: list[Result], counts: dict[tuple[str, str, str], tuple[int, int]]) -> None:
    """The issue's figures, mldock against each reference measured in this run."""
    print(
        f"{'cloud':5} {'shape':7} {'dir':8} {'vs aws':>7} {'vs obstore':>10} {'cli/obstore':>11} "
        f"{'emu/aws':>8} {'of bound':>8} {'req/obj':>8} {'floor/obstore':>13} {'procs':>5} {'vs 1 proc':>9} "
        f"{'1 proc bound':>12}"
    )
    for r in results:
        if r.contender != "mldock":
            continue

        def other(name: str, r: Result = r) -> Result | None:
            return next(
                (
                    x
                    for x in results
                    if (x.cloud, x.shape, x.direction, x.contender) == (r.cloud, r.shape, r.direction, name)
                ),
                None,
            )

        aws, obs, floor, one = other("aws s3 sync"), other("obstore"), other(SDK_FLOOR), other(ONE_PROCESS)
        sent = counts.get((r.cloud, r.direction, "mldock")) if r.shape == "small" else None
        cells = [
            f"{aws.seconds / r.seconds:6.2f}x" if aws else "",
            f"{obs.seconds / r.seconds:9.2f}x" if obs else "",
            f"{r.client_cpu / obs.client_cpu:10.2f}x" if obs and obs.client_cpu else "",
            f"{r.emulator_cpu / aws.emulator_cpu:7.2f}x" if aws and aws.emulator_cpu else "",
            f"{floor_seconds(r) / r.seconds:7.0%}",
            f"{sent[0] / sent[1]:8.2f}" if sent else "",
            f"{per_file(floor) / per_file(obs):12.2f}x" if floor and obs and obs.client_cpu else "",
            f"{r.processes:5}" if r.direction == "download" else "",
            f"{one.seconds / r.seconds:8.2f}x" if one else "",
            f"{floor_seconds(one) / one.seconds:11.0%}" if one else "",
        ]
        print(
            f"{r.cloud:5} {r.shape:7} {r.direction:8} {cells[0]:>7} {cells[1]:>10} {cells[2]:>11} "
            f"{cells[3]:>8} {cells[4]:>8} {cells[5]:>8} {cells[6]:>13} {cells[7]:>5} {cells[8]:>9} {cells[9]:>12}"
        )
    print(
        "\nvs aws / vs obstore: their time over mldock's (targets: >= 1.0x aws s3 sync); cli/obstore: mldock's client\n"
        "CPU over obstore's (target: <= 1.2x for small files); emu/aws: the emulator CPU mldock's run cost over\n"
        "aws s3 sync's (target: <= 1.0x); of bound: the shortest time mldock's CPU allows over its time (target:\n"
        ">= 90%); req/obj: mldock's requests per object (target: 1, plus the listing or bucket lookup);\n"
        "floor/obstore: the client CPU per object of one bare SDK request (SDK floor: no files, no threads, no\n"
        "mldock code) over obstore's: the least `cli/obstore` any engine built on the SDK can reach; procs: the\n"
        "processes mldock's download used (worker processes join while one process is the limit); vs 1 proc / 1 proc\n"
        "bound: mldock kept in one process (MLDOCK_TRANSFER_PROCESSES=1): its time over mldock's, its share of the\n"
        "bound.\n"
    )


def print_rss(rss: dict[str, dict[str, float]], rss_size: int) -> None:
    print(f"peak RSS of a {rss_size // MiB} MiB single-object download (child process; limit {RSS_LIMIT_MIB} MiB)")
    for cloud, data in rss.items():
        verdict = "ok" if data["peak_mib"] < RSS_LIMIT_MIB else "OVER"
        print(
            f"{cloud:5} peak {data['peak_mib']:6.1f} MiB (after imports {data['baseline_mib']:6.1f} MiB), "
            f"{data['bytes'] / MiB / data['seconds']:6.1f} MiB/s  {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 x 16 MiB, 500 x 4 KiB, 256 MiB RSS probe")
    parser.add_argument("--clouds", default="s3,gs,az", help="comma-separated: s3,gs,az")
    parser.add_argument("--aws", default=shutil.which("aws"), help="the aws CLI (default: from PATH)")
    parser.add_argument("--shapes", default="large,small", help="comma-separated: large,small")
    parser.add_argument("--small-count", type=int, help="override the number of small files")
    parser.add_argument("--large-count", type=int, help="override the number of large files")
    parser.add_argument("--large-mib", type=int, help="override the size of the large files, MiB")
    parser.add_argument("--count-sample", type=int, default=50, help="small files in the request count (0: none)")
    parser.add_argument("--rss-mib", type=int, help="size of the memory probe's object, MiB (default 1024; quick 256)")
    parser.add_argument("--no-rss", action="store_true", help="skip the memory probe")
    parser.add_argument(
        "--contenders",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="comma-separated: only these beside mldock (e.g. 'mldock 1 proc'); default: every one available",
    )
    parser.add_argument("--rss-child", nargs=2, metavar=("URI", "DEST"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0
    large, small = (
        (Shape("large", 4, 16 * MiB), Shape("small", 500, 4096))
        if args.quick
        else (Shape("large", 16, 64 * MiB), Shape("small", 5000, 4096))
    )
    small = Shape("small", args.small_count or small.count, 4096)
    large = Shape("large", args.large_count or large.count, (args.large_mib or large.size // MiB) * MiB)
    wanted = {s.strip() for s in args.shapes.split(",") if s.strip()}
    if unknown := wanted - {"large", "small"}:
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))}")
    shapes = [s for s in (large, small) if s.name in wanted]
    args.rss_size = 0 if args.no_rss else (args.rss_mib or (256 if args.quick else 1024)) * MiB
    clouds = [c.strip() for c in args.clouds.split(",") if c.strip()]
    print(
        f"shapes: {', '.join(f'{s.name} {s.count} x {s.size // 1024} KiB' for s in shapes)}; clouds: {clouds}; "
        f"aws: {args.aws or 'not found (skipped)'}; obstore: "
        f"{'yes' if importlib.util.find_spec('obstore') else 'not installed (skipped)'}; cores: {os.cpu_count()}; "
        f"load: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mldock-bench-") as tmp:
        work = args.work = Path(tmp)
        trees = {shape.name: make_tree(work / "src", shape) for shape in shapes}
        sample = make_tree(work / "sample", Shape("small", args.count_sample, 4096)) if args.count_sample else None
        args.keys = {
            f"bench-{shape.name}": [rel for _, rel in files_of(tree)]
            for shape, tree in zip(shapes, trees.values(), strict=True)
        }
        if sample is not None:
            args.keys["count"] = [rel for _, rel in files_of(sample)]
        results: list[Result] = []
        rss: dict[str, dict[str, float]] = {}
        counts: dict[tuple[str, str, str], tuple[int, int]] = {}
        for cloud in clouds:
            if sample is not None:
                for (name, direction), sent in count_requests(cloud, sample, work, args).items():
                    counts[(cloud, direction, name)] = (sent, args.count_sample)
            cloud_results, cloud_rss = bench_cloud(cloud, shapes, trees, work, args)
            results.extend(cloud_results)
            if cloud_rss:
                rss[cloud] = cloud_rss
    print_table(results, counts)
    print_figures(results, counts)
    if rss:
        print_rss(rss, args.rss_size)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
