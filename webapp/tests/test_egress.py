"""Endpoints are allowlisted (issue 12, item 3): every refused address form is refused at save and at call,
an allowlisted one works, keys go only to their hosts, and engine paths cannot smuggle in Hydra
interpolations."""

from __future__ import annotations

import socket

import pytest

from webapp import egress
from webapp.egress import EgressError, refusal_reason
from webapp.llm import EndpointConfig, LLMError, LLMGateway
from webapp.llm_testserver import ScriptedLLMServer

PUBLIC = "93.184.216.34"  # a public unicast address (nothing connects to it in these tests)
REAL_GETADDRINFO = socket.getaddrinfo


class FakeDNS:
    """Replaces socket.getaddrinfo: names in ``table`` resolve to the given addresses, the rest as usual.
    Tests change the table between save and call to play a DNS-rebinding attacker."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **table: str | list[str]) -> None:
        self.table = {name.replace("_", "."): addrs for name, addrs in table.items()}
        self.lookups: list[str] = []
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __setitem__(self, name: str, addresses: str | list[str]) -> None:
        self.table[name] = addresses

    def __call__(self, host, port, *args, **kwargs):
        self.lookups.append(host)
        if host not in self.table:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        addresses = self.table[host]
        addresses = [addresses] if isinstance(addresses, str) else addresses
        infos = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
            infos.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos


@pytest.fixture
def default_lists(settings):
    """The production defaults: only the default local endpoint is allowed; nothing for Ray; no key bindings."""
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = egress.DEFAULT_ENDPOINT_HOSTS
    settings.SKINFLOW_ALLOWED_RAY_HOSTS = ""
    settings.SKINFLOW_KEY_ENV_HOSTS = ""
    return settings


@pytest.fixture
def dns(monkeypatch):
    return FakeDNS(monkeypatch, internal_example="127.0.0.1", metadata_example="169.254.169.254",
                   public_example=PUBLIC, mixed_example=[PUBLIC, "10.0.0.7"], v6loop_example="::1",
                   mapped_example="::ffff:127.0.0.1", api_openai_com="162.159.140.245")


# Every form the issue names, and their relatives: (URL, what the message must say).
REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://127.0.0.1:6379/v1", "loopback"),
    ("http://localhost:6379/v1", "loopback"),
    ("http://10.0.0.5:8000/v1", "private"),
    ("http://172.16.3.4/v1", "private"),
    ("http://192.168.1.10/v1", "private"),
    ("http://0.0.0.0:8009/v1", "unspecified"),
    ("http://224.0.0.1/v1", "multicast"),
    ("http://100.64.0.1/v1", "not a globally routable"),
    ("http://0x7f000001/v1", "four decimal numbers"),
    ("http://2130706433/v1", "four decimal numbers"),
    ("http://0177.0.0.1/v1", "four decimal numbers"),
    ("http://127.1/v1", "four decimal numbers"),
    ("http://[::1]:8009/v1", "loopback"),
    ("http://[::]/v1", "unspecified"),
    ("http://[fc00::1]/v1", "private"),
    ("http://[fd12:3456::1]/v1", "private"),
    ("http://[fe80::1%25eth0]/v1", "link-local"),
    ("http://[::ffff:127.0.0.1]:6379/v1", "loopback address written as IPv6"),
    ("http://[::ffff:a9fe:a9fe]/v1", "link-local address written as IPv6"),
    ("http://[64:ff9b::7f00:1]/v1", "loopback address written as IPv6"),
    ("http://internal.example:6379/v1", "internal.example, which resolves to 127.0.0.1"),
    ("http://metadata.example/v1", "link-local"),
    ("http://mixed.example/v1", "resolves to 10.0.0.7"),  # every address must pass, not just the first
    ("http://v6loop.example/v1", "loopback"),
    ("http://mapped.example/v1", "loopback address written as IPv6"),
    ("http://user:pw@public.example/v1", "user name or password"),
    ("file:///etc/passwd", "must start with http:// or https://"),
    ("gopher://public.example/", "must start with http:// or https://"),
    ("http://no-such-host.invalid/v1", "Cannot resolve"),
]


@pytest.mark.parametrize("url,why", REFUSED, ids=[u for u, _ in REFUSED])
def test_each_refused_address_form_is_refused_with_what_to_do(default_lists, dns, url, why):
    with pytest.raises(EgressError) as info:
        egress.configured_policy().check_url(url)
    message = str(info.value)
    assert why in message
    if "address" in why or why in ("loopback", "private", "link-local", "unspecified", "multicast"):
        assert "SKINFLOW_ALLOWED_ENDPOINT_HOSTS" in message  # says where to list a server you run


@pytest.mark.parametrize("url", ["http://127.0.0.1:8009/v1", "http://localhost:8009/v1", "https://public.example/v1",
                                 f"http://{PUBLIC}:8000/v1", "http://[::ffff:93.184.216.34]/v1"])
def test_the_default_endpoint_and_public_hosts_pass(default_lists, dns, url):
    egress.configured_policy().check_url(url)


def test_listed_hosts_networks_and_ports_open_exactly_what_they_name(settings, dns):
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = "10.0.0.0/8, vllm:8000 ,[fd00::5]:8000,192.168.1.10"
    dns["vllm"] = "172.18.0.4"
    policy = egress.configured_policy()
    for url in ("http://10.1.2.3/v1", "http://mixed.example/v1", "http://vllm:8000/v1", "http://[fd00::5]:8000/v1",
                "http://192.168.1.10:1234/v1"):
        policy.check_url(url)
    for url, why in (("http://vllm:8001/v1", "private"), ("http://[fd00::5]:9000/v1", "private"),
                     ("http://192.168.1.11/v1", "private"), ("http://127.0.0.1:8009/v1", "loopback")):
        with pytest.raises(EgressError, match=why):
            policy.check_url(url)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "host:port", "[fd00::5", "a/b:1", "h:70000"])
def test_an_unreadable_allowlist_entry_is_a_clear_error(settings, entry):
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = entry
    with pytest.raises(EgressError, match="SKINFLOW_ALLOWED_ENDPOINT_HOSTS"):
        egress.configured_policy()


def test_refusal_reasons_cover_embedded_ipv4_forms():
    import ipaddress

    assert refusal_reason(ipaddress.ip_address("2002:7f00:1::")) == "a loopback address written as IPv6"  # 6to4
    assert refusal_reason(ipaddress.ip_address("::ffff:10.0.0.1")) == "a private address written as IPv6"
    assert refusal_reason(ipaddress.ip_address("8.8.8.8")) is None


# --------------------------------------------------------------------------- keys tied to hosts


def test_a_key_goes_only_to_the_hosts_named_for_it(settings, dns):
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = "10.0.0.0/8"
    settings.SKINFLOW_KEY_ENV_HOSTS = "OPENAI_API_KEY=api.openai.com; MY_API_KEY=10.0.0.9:8000"
    policy = egress.configured_policy()
    policy.check_url("https://api.openai.com/v1", "OPENAI_API_KEY")
    policy.check_url("http://10.0.0.9:8000/v1", "MY_API_KEY")
    with pytest.raises(EgressError, match=r"OPENAI_API_KEY may only be sent to api.openai.com"):
        policy.check_url("https://public.example/v1", "OPENAI_API_KEY")
    with pytest.raises(EgressError, match="MY_API_KEY may only be sent to 10.0.0.9:8000"):
        policy.check_url("http://10.0.0.9:9000/v1", "MY_API_KEY")
    # A key variable named nowhere goes only to hosts the operator listed, never to any public host.
    policy.check_url("http://10.0.0.1/v1", "OTHER_API_KEY")
    with pytest.raises(EgressError, match="OTHER_API_KEY=public.example:443 to SKINFLOW_KEY_ENV_HOSTS"):
        policy.check_url("https://public.example/v1", "OTHER_API_KEY")
    policy.check_url("https://public.example/v1")  # no key: a public host is fine


# --------------------------------------------------------------------------- at save


@pytest.mark.django_db
def test_llm_endpoint_api_refuses_at_save_and_accepts_an_allowlisted_host(admin_client_role, default_lists, dns):
    def post(base_url, **extra):
        return admin_client_role.post("/api/llm-endpoints/", {"role": "judge", "base_url": base_url, "model": "m",
                                                              **extra}, content_type="application/json")

    for url, why in (("http://169.254.169.254/latest", "link-local"), ("http://0x7f000001:8009/v1", "four decimal"),
                     ("http://[::ffff:127.0.0.1]:6379/", "loopback"), ("http://internal.example:6379/v1", "loopback")):
        response = post(url)
        assert response.status_code == 400, url
        assert why in response.json()["base_url"][0]
    refused_key = post("https://public.example/v1", api_key_env="OPENAI_API_KEY")
    assert refused_key.status_code == 400 and "SKINFLOW_KEY_ENV_HOSTS" in refused_key.json()["api_key_env"][0]
    assert post("http://127.0.0.1:8009/v1").status_code == 201
    default_lists.SKINFLOW_KEY_ENV_HOSTS = "OPENAI_API_KEY=api.openai.com"
    endpoint = admin_client_role.get("/api/llm-endpoints/").json()
    endpoint_id = (endpoint["results"] if isinstance(endpoint, dict) else endpoint)[0]["id"]
    moved = admin_client_role.patch(f"/api/llm-endpoints/{endpoint_id}/", {"api_key_env": "OPENAI_API_KEY"},
                                    content_type="application/json")
    assert moved.status_code == 400 and "may only be sent to api.openai.com" in moved.json()["api_key_env"][0]


@pytest.mark.django_db
def test_llm_endpoint_admin_form_refuses_at_save(client, admin_user, default_lists, dns):
    from webapp.models import LLMEndpoint

    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    form = {"role": "drafter", "model": "m", "api_key_env": "", "temperature": 0, "max_concurrency": 8,
            "requests_per_minute": 0, "timeout_s": 60, "max_retries": 5, "enabled": "on"}
    response = client.post("/admin/webapp/llmendpoint/add/", {**form, "base_url": "http://192.168.1.1:8000/v1"})
    assert response.status_code == 200 and "private address" in response.content.decode()
    response = client.post("/admin/webapp/llmendpoint/add/", {**form, "base_url": "https://public.example/v1",
                                                              "api_key_env": "OPENAI_API_KEY"})
    assert response.status_code == 200 and "SKINFLOW_KEY_ENV_HOSTS" in response.content.decode()
    assert not LLMEndpoint.objects.exists()
    response = client.post("/admin/webapp/llmendpoint/add/", {**form, "base_url": "http://localhost:8009/v1"})
    assert response.status_code == 302 and LLMEndpoint.objects.get().base_url == "http://localhost:8009/v1"


@pytest.mark.django_db
def test_eval_run_form_and_api_refuse_at_save(admin_user, default_lists, dns):
    from rest_framework.test import APIClient

    from annotations.models import Dataset
    from evaluation.forms import RunForm

    dataset = Dataset.objects.create(name="Egress", source="folder")
    fields = {"name": "r", "model_name": "M", "endpoint_model": "m", "dataset": dataset.pk, "split": "test",
              "seed": 0, "k": 6, "judge_repeats": 1, "max_concurrency": 2, "price_prompt_per_mtok": 0,
              "price_completion_per_mtok": 0}
    form = RunForm({**fields, "base_url": "http://127.0.0.1:6379/v1"})  # the internal Redis of the issue
    assert not form.is_valid() and "loopback" in form.errors["base_url"][0]
    form = RunForm({**fields, "base_url": "https://public.example/v1", "api_key_env": "OPENAI_API_KEY"})
    assert not form.is_valid() and "SKINFLOW_KEY_ENV_HOSTS" in form.errors["api_key_env"][0]
    assert RunForm({**fields, "base_url": "https://public.example/v1"}).is_valid()

    api = APIClient()
    api.force_authenticate(admin_user)
    body = {"name": "r", "model_name": "M", "endpoint_model": "m", "dataset": dataset.pk}
    for url, why in (("http://2130706433:6379/v1", "four decimal"), ("http://[fc00::1]/v1", "private"),
                     ("http://metadata.example/latest", "link-local")):
        response = api.post("/api/eval-runs/", {**body, "base_url": url}, format="json")
        assert response.status_code == 400 and why in response.json()["base_url"][0], url
    response = api.post("/api/eval-runs/", {**body, "base_url": "https://public.example/v1",
                                            "api_key_env": "OPENAI_API_KEY"}, format="json")
    assert response.status_code == 400 and "SKINFLOW_KEY_ENV_HOSTS" in response.json()["api_key_env"][0]


def test_ray_address_is_checked_in_every_form_it_takes(default_lists, dns):
    from training.engines import EngineError
    from training.engines.spec import validate_verl_options

    dns["head"] = "10.2.0.4"
    assert validate_verl_options({"ray_address": "auto"}) == {"ray_address": "auto"}
    for address, why in (("http://head:8265", "SKINFLOW_ALLOWED_RAY_HOSTS"), ("ray://head:10001", "private"),
                         ("head:6379", "private"), ("http://169.254.169.254:8265", "link-local"),
                         ("ray://0x7f000001:10001", "four decimal"), ("file:///tmp/x", "http"),
                         ("http://h:1 --x", "spaces")):
        with pytest.raises(EngineError, match=why):
            validate_verl_options({"ray_address": address})
    # Deny by default, public or not: a public dashboard would run any job (and read any key) it is sent.
    for address in ("http://public.example:8265", f"ray://{PUBLIC}:10001", "http://8.8.8.8:8265"):
        with pytest.raises(EngineError, match="not listed in SKINFLOW_ALLOWED_RAY_HOSTS"):
            validate_verl_options({"ray_address": address})
    # A '%' made the host read as its leading address while the ray CLI resolved the whole name itself.
    default_lists.SKINFLOW_ALLOWED_RAY_HOSTS = "8.8.8.8"
    validate_verl_options({"ray_address": "http://8.8.8.8:8265"})
    with pytest.raises(EngineError, match="contains '%'"):
        validate_verl_options({"ray_address": "http://8.8.8.8%25.evil.example:8265"})
    default_lists.SKINFLOW_ALLOWED_RAY_HOSTS = ""
    # The endpoint list does not open Ray: a dashboard runs any job it is sent.
    default_lists.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = "head:8265"
    with pytest.raises(EngineError, match="SKINFLOW_ALLOWED_RAY_HOSTS"):
        validate_verl_options({"ray_address": "http://head:8265"})
    default_lists.SKINFLOW_ALLOWED_RAY_HOSTS = "head:8265,10.3.0.0/16"
    assert validate_verl_options({"ray_address": "http://head:8265"}) == {"ray_address": "http://head:8265"}
    dns["ray-b"] = "10.3.1.1"
    validate_verl_options({"ray_address": "ray://ray-b:10001"})


SECRET_PATHS = ["${oc.env:DJANGO_SECRET_KEY}", "\\${oc.env:DJANGO_SECRET_KEY}", "/models/\\${oc.env:HOME}/x",
                "/models/$(id)", "/models/`id`", "/models/a'b", '/models/a"b', "/models/a\nb", "/models/a\x1bb"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", SECRET_PATHS)
def test_engine_paths_with_interpolation_are_refused_at_launch(admin_client_role, settings, path):
    from annotations.models import Dataset
    from training import services
    from training.forms import LaunchForm
    from training.models import DatasetSnapshot, Stage

    dataset = Dataset.objects.create(name="Paths", source="folder")
    snapshot = DatasetSnapshot.objects.create(dataset=dataset, split="train", stage=Stage.CAPTION, version=1,
                                              content_hash="0" * 64, sample_ids=[], rows=8, path="/tmp/none")
    with pytest.raises(services.TrainingError, match="base model path"):
        services.launch_run(name="x", stage="I", snapshot=snapshot, base_model_path=path, engine="verl", dve=False)
    form = LaunchForm({"name": "x", "lineage": "default", "stage": "I", "engine": "verl", "dataset": dataset.pk,
                       "split": "train", "k": 6, "base_model_path": path})
    assert not form.is_valid() and "base model path" in form.errors["base_model_path"][0]
    response = admin_client_role.post("/api/training/runs/", {"name": "x", "stage": "I", "engine": "verl", "dve": False,
                                                              "dataset": dataset.pk, "base_model_path": path},
                                      content_type="application/json")
    assert response.status_code == 400 and "base model path" in response.json()["base_model_path"][0]


@pytest.mark.parametrize("path", SECRET_PATHS[:3])
def test_the_hydra_interpolation_path_is_refused_when_the_config_is_built(tmp_path, path):
    """The issue's probe: a base-model path ``\\${oc.env:DJANGO_SECRET_KEY}`` resolved to the secret inside
    verl's Hydra config. The engines refuse it when they build their config, whoever wrote the spec."""
    from training.engines import EngineError, RunSpec
    from training.engines.trl_engine import trl_command
    from training.engines.verl_engine import verl_overrides

    spec = RunSpec(run_id=1, stage="I", engine="verl", model_path=path, snapshot_dir=str(tmp_path / "snap"),
                   output_dir=str(tmp_path / "out"), dve=False)
    with pytest.raises(EngineError, match="base model path"):
        verl_overrides(spec)
    with pytest.raises(EngineError, match="base model path"):
        trl_command(spec, str(tmp_path / "spec.json"))
    spec.model_path, spec.output_dir = str(tmp_path / "model"), str(tmp_path / "${oc.env:DJANGO_SECRET_KEY}")
    with pytest.raises(EngineError, match="output folder"):
        verl_overrides(spec)


# --------------------------------------------------------------------------- at call time


@pytest.fixture
def server():
    with ScriptedLLMServer() as srv:
        yield srv


def _hi(gateway: LLMGateway, role: str = "judge"):
    return gateway.chat(role, [{"role": "user", "content": "hi"}])


@pytest.mark.django_db
def test_a_name_rebound_to_loopback_after_save_is_refused_at_call(admin_client_role, default_lists, dns, server):
    """DNS rebinding: the name was public when the admin saved it and points at loopback when the worker calls."""
    from webapp.gateway import build_gateway

    dns["rebind.example"] = PUBLIC
    base_url = f"http://rebind.example:{server.port}/v1"
    saved = admin_client_role.post("/api/llm-endpoints/", {"role": "judge", "base_url": base_url, "model": "m",
                                                           "max_retries": 3}, content_type="application/json")
    assert saved.status_code == 201, saved.content
    dns["rebind.example"] = "127.0.0.1"
    gateway = build_gateway()
    try:
        with pytest.raises(LLMError) as info:
            _hi(gateway)
    finally:
        gateway.close()
    assert info.value.reason == "egress_refused" and not info.value.retryable
    assert info.value.attempts == 1  # refused on the first connection, not retried
    assert "loopback" in str(info.value) and "SKINFLOW_ALLOWED_ENDPOINT_HOSTS" in str(info.value)
    assert server.request_count == 0  # nothing reached the server


# Each refused form again, this time at call time through the real path a worker takes: a database row
# (written with .update(), as a row saved before the allowlist existed would be), build_gateway, chat.
# {port} is a loopback listener's port (IPv4), {port6} one on ::1: a connection that got through would
# show up there, and a spy on socket connect catches the non-loopback forms (no listener can sit there).
REFUSED_AT_CALL = [
    ("http://169.254.169.254:{port}/latest/meta-data/", "link-local"),
    ("http://127.0.0.1:{port}/v1", "loopback"),
    ("http://10.0.0.5:{port}/v1", "private"),
    ("http://192.168.1.10:{port}/v1", "private"),
    ("http://0x7f000001:{port}/v1", "four decimal numbers"),
    ("http://2130706433:{port}/v1", "four decimal numbers"),
    ("http://0177.0.0.1:{port}/v1", "four decimal numbers"),
    ("http://[::1]:{port6}/v1", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/v1", "loopback address written as IPv6"),
    ("http://internal.example:{port}/v1", "internal.example, which resolves to 127.0.0.1"),  # the fake resolver
]


@pytest.fixture
def listeners():
    """Listening sockets on 127.0.0.1 and ::1 that nothing should ever connect to."""
    import select

    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("127.0.0.1", 0))
    v4.listen(8)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    v6.bind(("::1", 0))
    v6.listen(8)

    def knocked() -> bool:  # a completed handshake makes a listening socket readable, accepted or not
        return bool(select.select([v4, v6], [], [], 0.2)[0])

    try:
        yield {"port": v4.getsockname()[1], "port6": v6.getsockname()[1], "knocked": knocked}
    finally:
        v4.close()
        v6.close()


@pytest.mark.django_db
@pytest.mark.parametrize("template,why", REFUSED_AT_CALL, ids=[t for t, _ in REFUSED_AT_CALL])
def test_each_refused_address_form_is_refused_at_call_and_nothing_connects(default_lists, dns, listeners,
                                                                           monkeypatch, template, why):
    from webapp.gateway import build_gateway
    from webapp.models import LLMEndpoint

    url = template.format(port=listeners["port"], port6=listeners["port6"])
    ports = {listeners["port"], listeners["port6"]}
    attempts: list[object] = []
    for name in ("connect", "connect_ex"):
        original = getattr(socket.socket, name)

        def spy(sock, address, _original=original):
            if isinstance(address, tuple) and len(address) >= 2 and address[1] in ports:
                attempts.append(address)
            return _original(sock, address)

        monkeypatch.setattr(socket.socket, name, spy)
    endpoint = LLMEndpoint.objects.create(role="judge", base_url="https://public.example/v1", model="m",
                                          max_retries=3, timeout_s=5)
    LLMEndpoint.objects.filter(pk=endpoint.pk).update(base_url=url)  # no save(): no validation at save
    gateway = build_gateway()
    try:
        assert gateway.endpoint("judge").base_url == url
        with pytest.raises(LLMError) as info:
            _hi(gateway)
    finally:
        gateway.close()
    assert info.value.reason == "egress_refused" and not info.value.retryable, info.value
    assert info.value.attempts <= 1  # refused before or on the first connection, never retried
    assert why in str(info.value)
    assert attempts == [] and not listeners["knocked"]()  # no connection was even attempted


def test_an_allowlisted_name_works_and_is_connected_to_at_the_checked_address(settings, dns, server):
    """The transport connects to the address it checked: ``pinned.example`` exists only in the fake resolver."""
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = f"pinned.example:{server.port}"
    dns["pinned.example"] = "127.0.0.1"
    with LLMGateway({"judge": EndpointConfig("judge", f"http://pinned.example:{server.port}/v1", "m")}) as gateway:
        assert _hi(gateway).text == "hi"
    assert dns.lookups.count("pinned.example") == 1  # one lookup: the check and the connection are the same


def test_no_second_lookup_between_check_and_connect(settings, dns, server):
    """A resolver that answers an allowed address once and a forbidden one afterwards (a TOCTOU rebinding)
    cannot redirect the connection: the checked address is the one connected to."""
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = f"127.0.0.1:{server.port}"
    answers = iter(["127.0.0.1"])

    class Flip(list):
        def __iter__(self):
            return iter([next(answers, "169.254.169.254")])

    dns["flip.example"] = Flip()
    with LLMGateway({"judge": EndpointConfig("judge", f"http://flip.example:{server.port}/v1", "m",
                                              timeout_s=5, max_retries=0)}) as gateway:
        assert _hi(gateway).text == "hi"
    assert server.request_count == 1


def test_the_default_local_endpoint_is_refused_elsewhere_at_call(default_lists, server):
    """A gateway built by hand (the evaluation worker does so) applies the configured lists too."""
    with LLMGateway({"judge": EndpointConfig("judge", server.base_url, "m", max_retries=2)}) as gateway:
        with pytest.raises(LLMError, match="127.0.0.1, which|loopback") as info:
            _hi(gateway)
    assert info.value.reason == "egress_refused"
    assert server.request_count == 0


def test_a_key_is_not_sent_once_its_host_binding_changes(settings, server, monkeypatch):
    monkeypatch.setenv("JUDGE_API_KEY", "sk-secret")
    settings.SKINFLOW_KEY_ENV_HOSTS = f"JUDGE_API_KEY=127.0.0.1:{server.port}"
    config = EndpointConfig("judge", server.base_url, "m", api_key_env="JUDGE_API_KEY")
    with LLMGateway({"judge": config}) as gateway:
        assert _hi(gateway).text == "hi"
    assert server.headers[-1]["authorization"] == "Bearer sk-secret"
    settings.SKINFLOW_KEY_ENV_HOSTS = "JUDGE_API_KEY=api.openai.com"
    with LLMGateway({"judge": config}) as gateway:
        with pytest.raises(LLMError, match="may only be sent to api.openai.com") as info:
            _hi(gateway)
    assert info.value.reason == "egress_refused" and server.request_count == 1


@pytest.mark.django_db
def test_the_evaluation_worker_refuses_a_rebound_endpoint(admin_user, default_lists, dns, server):
    from annotations.models import Dataset
    from evaluation import services
    from evaluation.models import EvalRun
    from webapp.gateway import CallRecorder

    dns["eval.example"] = PUBLIC
    dataset = Dataset.objects.create(name="Eval egress", source="folder")
    run = EvalRun.objects.create(name="r", model_name="M", base_url=f"http://eval.example:{server.port}/v1",
                                 endpoint_model="m", dataset=dataset, test_set="t", prompt="p", max_concurrency=1)
    dns["eval.example"] = "10.0.0.8"
    gateway = services._model_gateway(run, CallRecorder("test"))
    try:
        with pytest.raises(LLMError, match="private") as info:
            _hi(gateway, services.DIAGNOSER_ROLE)
    finally:
        gateway.close()
    assert info.value.reason == "egress_refused" and server.request_count == 0


def test_the_verl_driver_rechecks_the_ray_address_before_submitting(tmp_path, default_lists, dns):
    from training.engines import EngineError, RunSpec
    from training.engines.verl_engine import train_command

    default_lists.SKINFLOW_ALLOWED_RAY_HOSTS = "head:8265"
    dns["head"] = "10.2.0.4"
    spec = RunSpec(run_id=3, stage="I", engine="verl", model_path=str(tmp_path / "m"),
                   snapshot_dir=str(tmp_path / "s"), output_dir=str(tmp_path / "o"), dve=False,
                   hyperparameters={"batch_size": 1}, verl={"ray_address": "http://head:8265", "n_gpus_per_node": 1})
    assert train_command(spec, {})[:5] == ["ray", "job", "submit", "--address", "http://head:8265"]
    default_lists.SKINFLOW_ALLOWED_RAY_HOSTS = ""  # the list changed since launch
    with pytest.raises(EngineError, match="SKINFLOW_ALLOWED_RAY_HOSTS"):
        train_command(spec, {})


def test_policy_without_django_reads_the_environment():
    """The verl driver and Ray jobs run without Django: there the lists come from the environment."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("from webapp import egress\n"
            "egress.configured_policy().check_url('http://10.9.1.1/v1')\n"
            "try:\n    egress.configured_policy().check_url('http://127.0.0.1:8009/v1')\n"
            "except egress.EgressError as e:\n    print('refused:', e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SKINFLOW_"))}
    env["SKINFLOW_ALLOWED_ENDPOINT_HOSTS"] = "10.9.0.0/16"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused: Requests to 127.0.0.1 are refused: it is a loopback address")


def test_a_redirect_to_a_refused_address_is_not_followed(settings):
    """The endpoint answers with a redirect to cloud metadata: the new connection is checked like the first."""
    import http.server
    import threading

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - stdlib naming
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = f"127.0.0.1:{httpd.server_address[1]}"
    try:
        config = EndpointConfig("judge", f"http://127.0.0.1:{httpd.server_address[1]}/v1", "m", max_retries=0)
        with LLMGateway({"judge": config}) as gateway:
            with pytest.raises(LLMError, match="169.254.169.254 are refused: it is a link-local address") as info:
                _hi(gateway)
        assert info.value.reason == "egress_refused"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_key_is_not_shipped_to_a_ray_cluster_for_an_endpoint_it_may_not_go_to(settings):
    from training.engines.verl_engine import runtime_env

    settings.SKINFLOW_ALLOWED_RAY_HOSTS = "head:8265"
    settings.SKINFLOW_KEY_ENV_HOSTS = "OPENAI_API_KEY=api.openai.com,head:8265"
    environ = {"SKINFLOW_JUDGE_BASE_URL": "https://elsewhere.example/v1",
               "SKINFLOW_JUDGE_API_KEY_ENV": "OPENAI_API_KEY", "OPENAI_API_KEY": "sk-secret"}
    assert "OPENAI_API_KEY" not in runtime_env(environ, "http://head:8265")["env_vars"]
    environ["SKINFLOW_JUDGE_BASE_URL"] = "http://api.openai.com/v1"  # the right host, but in the clear
    assert "OPENAI_API_KEY" not in runtime_env(environ, "http://head:8265")["env_vars"]
    environ["SKINFLOW_JUDGE_BASE_URL"] = "https://api.openai.com/v1"
    assert runtime_env(environ, "http://head:8265")["env_vars"]["OPENAI_API_KEY"] == "sk-secret"
    assert runtime_env(environ, "auto")["env_vars"]["OPENAI_API_KEY"] == "sk-secret"  # stays on the worker


def test_a_key_goes_to_a_ray_cluster_only_when_tied_to_that_host_too(settings, monkeypatch, tmp_path):
    """The key may reach its endpoint, but the job's runtime env is read by the Ray host (and whoever can
    submit to it): the launch is refused, at save and at submit, unless the key is tied to that host too."""
    from training.engines import EngineError, RunSpec
    from training.engines.spec import validate_verl_options
    from training.engines.verl_engine import runtime_env, train_command

    settings.SKINFLOW_ALLOWED_RAY_HOSTS = "head:8265,ray.example.com"
    settings.SKINFLOW_KEY_ENV_HOSTS = "OPENAI_API_KEY=api.openai.com"
    environ = {"SKINFLOW_JUDGE_BASE_URL": "https://api.openai.com/v1",
               "SKINFLOW_JUDGE_API_KEY_ENV": "OPENAI_API_KEY", "OPENAI_API_KEY": "sk-secret"}
    for address in ("http://head:8265", "https://ray.example.com"):
        with pytest.raises(EngineError, match="OPENAI_API_KEY would be sent to the Ray cluster") as info:
            runtime_env(environ, address)
        assert "SKINFLOW_KEY_ENV_HOSTS" in str(info.value)
    spec = RunSpec(run_id=4, stage="I", engine="verl", model_path=str(tmp_path / "m"),
                   snapshot_dir=str(tmp_path / "s"), output_dir=str(tmp_path / "o"), dve=False,
                   hyperparameters={"batch_size": 1}, verl={"ray_address": "http://head:8265", "n_gpus_per_node": 1})
    with pytest.raises(EngineError, match="would be sent to the Ray cluster at head:8265"):
        train_command(spec, environ)
    for name, value in environ.items():  # at launch, the web process's own environment is what is checked
        monkeypatch.setenv(name, value)
    with pytest.raises(EngineError, match="would be sent to the Ray cluster"):
        validate_verl_options({"ray_address": "http://head:8265"})
    assert validate_verl_options({"ray_address": "auto"}) == {"ray_address": "auto"}
    settings.SKINFLOW_KEY_ENV_HOSTS = "OPENAI_API_KEY=api.openai.com,head:8265"
    assert validate_verl_options({"ray_address": "http://head:8265"}) == {"ray_address": "http://head:8265"}
    assert runtime_env(environ, "http://head:8265")["env_vars"]["OPENAI_API_KEY"] == "sk-secret"


def test_a_percent_counts_only_as_an_ipv6_link_local_zone(default_lists, dns):
    """``8.8.8.8%25.evil.example`` was read as 8.8.8.8 while the name behind it resolves anywhere."""
    for url in ("http://8.8.8.8%25.evil.example:8265/v1", "http://public.example%25x/v1", "http://[::1%25x]/v1",
                f"http://[::ffff:{PUBLIC}%25eth0]/v1"):
        with pytest.raises(EgressError, match="contains '%'"):
            egress.configured_policy().check_url(url)
    with pytest.raises(EgressError, match="link-local"):  # the zone still reads on a link-local literal
        egress.configured_policy().check_url("http://[fe80::1%25eth0]/v1")
    with pytest.raises(EgressError, match="SKINFLOW_ALLOWED_ENDPOINT_HOSTS"):
        egress.parse_rules("8.8.8.8%x", "SKINFLOW_ALLOWED_ENDPOINT_HOSTS")
    assert egress.parse_rules("fe80::1%eth0")[0].network is not None


def test_a_key_needs_https_unless_the_host_is_a_listed_server(settings, dns):
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = "10.0.0.0/8,vllm.internal"
    settings.SKINFLOW_KEY_ENV_HOSTS = "OPENAI_API_KEY=api.openai.com;LOCAL_API_KEY=10.0.0.9,vllm.internal"
    dns["vllm.internal"] = "10.0.0.10"
    policy = egress.configured_policy()
    with pytest.raises(EgressError, match=r"unencrypted over http:// to api.openai.com:80\. Use an https://"):
        policy.check_url("http://api.openai.com/v1", "OPENAI_API_KEY")
    policy.check_url("https://api.openai.com/v1", "OPENAI_API_KEY")
    policy.check_url("http://api.openai.com/v1")  # no key, nothing to read on the way
    policy.check_url("http://10.0.0.9:8000/v1", "LOCAL_API_KEY")  # a listed server on the operator's network
    policy.check_url("http://vllm.internal:8000/v1", "LOCAL_API_KEY")


@pytest.mark.django_db
def test_a_plain_http_key_is_a_400_at_save(admin_client_role, default_lists, dns):
    default_lists.SKINFLOW_KEY_ENV_HOSTS = "OPENAI_API_KEY=api.openai.com"
    response = admin_client_role.post("/api/llm-endpoints/", {
        "role": "judge", "base_url": "http://api.openai.com/v1", "model": "m", "api_key_env": "OPENAI_API_KEY"},
        content_type="application/json")
    assert response.status_code == 400 and "https://" in response.json()["api_key_env"][0]


@pytest.mark.parametrize("setting,value,shown", [
    ("SKINFLOW_ALLOWED_ENDPOINT_HOSTS", "vllm:8000,10.0.0.0/33", "'10.0.0.0/33'"),
    ("SKINFLOW_ALLOWED_RAY_HOSTS", "head:port", "'head:port'"),
    ("SKINFLOW_KEY_ENV_HOSTS", "OPENAI_API_KEY", "'OPENAI_API_KEY'"),
    ("SKINFLOW_LLM_BASE_URL", "ftp://llm/v1", "'ftp://llm/v1'"),
])
def test_a_malformed_egress_setting_is_a_system_check_error(settings, setting, value, shown):
    from django.core import checks

    setattr(settings, setting, value)
    errors = [e for e in checks.run_checks() if e.id == "webapp.E012"]
    assert len(errors) == 1, errors
    assert errors[0].obj == setting and shown in errors[0].msg and setting in errors[0].hint


def test_a_role_base_url_is_checked_at_start_without_dns(settings, monkeypatch):
    from django.core import checks

    monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", "http://[::1/v1")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("no DNS at start"))
    errors = [e for e in checks.run_checks() if e.id == "webapp.E012"]
    assert [e.obj for e in errors] == ["SKINFLOW_JUDGE_BASE_URL"]
    monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", "http://169.254.169.254/v1")
    monkeypatch.setenv("SKINFLOW_SCORER_BASE_URL", "http://llm.example/v1")  # a name: resolved at call time only
    warnings = [e for e in checks.run_checks() if e.id in ("webapp.E012", "webapp.W012")]
    assert [(e.id, e.obj) for e in warnings] == [("webapp.W012", "SKINFLOW_JUDGE_BASE_URL")]
    assert "link-local" in warnings[0].msg
