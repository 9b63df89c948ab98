"""Where SkinFlow Studio may send requests: LLM endpoints, evaluation endpoints and Ray clusters.

Pure Python (the standard library; httpx only for :func:`checked_transport`), no Django needed. An admin
types base URLs and a Ray address into forms; without a check those become requests from inside the
deployment to anything the servers can reach (cloud metadata at 169.254.169.254, the internal Redis,
a private network). The rules:

* a URL is ``http``/``https`` (``ray://`` or ``host:port`` for Ray), with no user name or password in it;
* its host is resolved with :func:`socket.getaddrinfo` and **every** address must pass: loopback,
  link-local, private, unspecified, multicast, reserved and otherwise not globally routable addresses are
  refused, also in their IPv4-mapped / 6to4 / NAT64 IPv6 forms, unless the host (by name or literal
  address, optionally with its port) or a network (CIDR) holding the address is listed in the allowlist;
* a numeric host that is not written as a plain dotted quad (``0x7f000001``, ``2130706433``,
  ``0177.0.0.1``, ``127.1``) is refused outright: resolvers read those as addresses, people do not;
* a key variable goes only to hosts named for it in ``SKINFLOW_KEY_ENV_HOSTS``; a key variable not listed
  there goes only to hosts listed in the endpoint allowlist (an operator named them; an admin form did not);
  over plain ``http://`` a key goes only to a host of the endpoint allowlist (a server on the operator's
  own network), to anything else ``https://`` is required;
* a Ray cluster is deny by default, public or not: only ``auto`` and hosts in ``SKINFLOW_ALLOWED_RAY_HOSTS``
  (a dashboard runs any job it is sent), and a key goes into a Ray job only if it is tied to the Ray host
  in ``SKINFLOW_KEY_ENV_HOSTS`` (:meth:`EgressPolicy.check_key_for_cluster`).

The same :class:`EgressPolicy` is asked at save (forms, serializers, models) and at call time: the LLM
gateway's HTTP client connects through :func:`checked_transport`, which resolves and checks the host on
every new connection and connects to the checked address itself, so a name that resolves elsewhere
between save and call (DNS rebinding) is refused, never followed.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from webapp.params import is_whole_number

__all__ = [
    "ENDPOINT_HOSTS_SETTING",
    "RAY_HOSTS_SETTING",
    "KEY_ENV_HOSTS_SETTING",
    "DEFAULT_ENDPOINT_HOSTS",
    "EgressError",
    "EgressPolicy",
    "HostRule",
    "Target",
    "parse_url",
    "parse_ray_address",
    "refusal_reason",
    "configured_policy",
    "checked_transport",
    "egress_error_in",
    "check_settings",
    "configuration_problems",
]

ENDPOINT_HOSTS_SETTING = "SKINFLOW_ALLOWED_ENDPOINT_HOSTS"
RAY_HOSTS_SETTING = "SKINFLOW_ALLOWED_RAY_HOSTS"
KEY_ENV_HOSTS_SETTING = "SKINFLOW_KEY_ENV_HOSTS"
# The default local endpoint (SKINFLOW_LLM_BASE_URL's default, bin/run's test server) and nothing else.
DEFAULT_ENDPOINT_HOSTS = "127.0.0.1:8009,localhost:8009"
_DEFAULTS = {ENDPOINT_HOSTS_SETTING: DEFAULT_ENDPOINT_HOSTS, RAY_HOSTS_SETTING: "", KEY_ENV_HOSTS_SETTING: ""}
_DEFAULT_PORTS = {"http": 80, "https": 443, "ray": 10001}

# 64:ff9b::/96 (RFC 6052) and 64:ff9b:1::/48 (RFC 8215): NAT64 gateways forward these to the embedded IPv4.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


class EgressError(ValueError):
    """A URL or address SkinFlow will not send requests to; the message says what to do."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class HostRule:
    """One allowlist entry: a host name, an address or a network, with an optional port."""

    text: str
    name: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None

    def _port_ok(self, port: int) -> bool:
        return self.port is None or self.port == port

    def matches_host(self, host: str, port: int) -> bool:
        """The host as written in the URL (a name, or a literal address inside the network)."""
        if not self._port_ok(port):
            return False
        if self.name is not None:
            return self.name == host
        literal = _literal_ip(host)
        return literal is not None and self.network is not None and _unmapped(literal) in self.network

    def matches_address(self, address: IPAddress, port: int) -> bool:
        return (self.network is not None and self._port_ok(port)
                and (address in self.network or _unmapped(address) in self.network))


@dataclass(frozen=True)
class Target:
    """A parsed endpoint: scheme, canonical host (lower case, no trailing dot, IDNA) and effective port."""

    scheme: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# --------------------------------------------------------------------------- parsing


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def _literal_ip(host: str) -> IPAddress | None:
    """The address ``host`` is written as, or None for a name. A ``%zone`` suffix is read only on an IPv6
    link-local literal (``fe80::1%eth0``, the one place a zone means something): splitting every host on
    ``%`` made ``8.8.8.8%25.evil.example`` count as 8.8.8.8 while the ray CLI resolved the name itself."""
    text, sep, zone = host.partition("%")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if sep and not (isinstance(address, ipaddress.IPv6Address) and address.is_link_local and zone
                    and all(ch.isalnum() or ch in "._-" for ch in zone)):
        return None  # not an address; _canonical_host refuses the '%' in it as a host name
    return address


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _canonical_host(host: str, original: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host:
        raise EgressError(f"{original!r} names no host. Give a URL such as https://api.openai.com/v1.")
    if _literal_ip(host) is None:
        if "%" in host:  # a zone belongs only on an IPv6 link-local literal; in a name it hides the real host
            raise EgressError(f"The host {host!r} in {original!r} contains '%', which no host name may hold (a "
                              "'%zone' belongs only after an IPv6 link-local address such as [fe80::1%25eth0]).")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise EgressError(f"The host in {original!r} is not a valid host name.") from None
        try:
            socket.inet_aton(host)
        except OSError:
            pass
        else:  # the resolver reads it as an IPv4 address (hex, octal, decimal or short form); a reader does not
            raise EgressError(
                f"The host {host!r} in {original!r} is an IPv4 address in an unusual notation (hex, octal, a "
                "single number or a short form). Write the address as four decimal numbers (e.g. 203.0.113.7).")
    return host


def parse_url(url: str, *, schemes: Sequence[str] = ("http", "https"), what: str = "base URL") -> Target:
    """Parse an endpoint URL; refuse other schemes, user info, control characters and odd host notations."""
    if not isinstance(url, str) or not url.strip():
        raise EgressError(f"Give a {what} such as https://api.openai.com/v1.")
    if _has_control(url) or any(ch.isspace() for ch in url.strip()):
        raise EgressError(f"The {what} {url!r} contains spaces or control characters; remove them.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise EgressError(f"Cannot read the {what} {url!r} ({exc}). Give one such as "
                          "https://api.openai.com/v1.") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise EgressError(f"The {what} {url!r} must start with {allowed}.")
    if "@" in parts.netloc:
        raise EgressError(f"The {what} {url!r} carries a user name or password; remove it (keys are read from "
                          "the variable named in api_key_env, never from the URL).")
    if not parts.hostname:
        raise EgressError(f"The {what} {url!r} names no host. Give one such as https://api.openai.com/v1.")
    host = _canonical_host(parts.hostname, url)
    return Target(scheme=scheme, host=host, port=port or _DEFAULT_PORTS[scheme])


def parse_ray_address(address: str) -> Target | None:
    """A Ray address: ``http(s)://host[:port]`` (the dashboard), ``ray://host:port`` (Ray Client) or
    ``host:port``; ``auto`` (the worker's own local cluster) gives None: there is no host to check."""
    if address == "auto":
        return None
    if isinstance(address, str) and "://" not in address:
        address = "ray://" + address
    target = parse_url(address, schemes=("http", "https", "ray"), what="Ray address")
    return target


def _parse_rule(entry: str, setting: str) -> HostRule:
    text, port = entry, None
    body = entry
    if body.startswith("["):  # [v6] or [v6]:port
        close = body.find("]")
        if close < 0:
            raise EgressError(f"{setting}: cannot read {entry!r} (a '[' without ']').")
        rest = body[close + 1:]
        body = body[1:close]
        if rest:
            if not rest.startswith(":") or not is_whole_number(rest[1:]):
                raise EgressError(f"{setting}: cannot read {entry!r}; write [address]:port.")
            port = int(rest[1:])
    elif body.count(":") == 1:  # name:port, v4:port, v4/len:port
        body, _, port_text = body.partition(":")
        if not is_whole_number(port_text):
            raise EgressError(f"{setting}: cannot read {entry!r}; the part after ':' must be a port number.")
        port = int(port_text)
    if port is not None and not 0 < port < 65536:
        raise EgressError(f"{setting}: the port in {entry!r} must lie between 1 and 65535.")
    if "/" in body or _literal_ip(body) is not None:
        try:
            network = ipaddress.ip_network(body, strict=False)
        except ValueError:
            raise EgressError(f"{setting}: {entry!r} is not a valid address or network (e.g. 10.0.0.0/8).") from None
        return HostRule(text=text, network=network, port=port)
    if not body or _has_control(body) or any(ch in body for ch in "/@?#"):
        raise EgressError(f"{setting}: {entry!r} is not a host name, address or network.")
    try:
        name = _canonical_host(body, entry)
    except EgressError as exc:  # name the setting: the system check and per-request errors show this text
        raise EgressError(f"{setting}: {exc}") from None
    return HostRule(text=text, name=name, port=port)


def parse_rules(text: str, setting: str = ENDPOINT_HOSTS_SETTING) -> tuple[HostRule, ...]:
    """An allowlist: comma- or space-separated host names, addresses and CIDR networks, each with an
    optional ``:port`` (``[v6]:port`` for IPv6)."""
    entries = [e.strip() for e in (text or "").replace(",", " ").split()]
    return tuple(_parse_rule(e, setting) for e in entries if e)


def parse_key_hosts(text: str) -> dict[str, tuple[HostRule, ...]]:
    """``OPENAI_API_KEY=api.openai.com;MY_API_KEY=llm.internal:8000,10.1.2.3`` -> rules per variable."""
    bindings: dict[str, tuple[HostRule, ...]] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, hosts = part.partition("=")
        name = name.strip()
        if not sep or not name or not hosts.strip():
            raise EgressError(f"{KEY_ENV_HOSTS_SETTING}: cannot read {part!r}; write VARIABLE=host[:port][,host...] "
                              "and separate variables with ';'.")
        bindings[name] = parse_rules(hosts, KEY_ENV_HOSTS_SETTING)
    return bindings


# --------------------------------------------------------------------------- address rules


def refusal_reason(address: IPAddress) -> str | None:
    """Why a request to ``address`` is refused by default ("a loopback address", ...), or None for a
    public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: IPAddress | None = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and any(address in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address in _IPV4_COMPATIBLE and int(address) > 1:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = refusal_reason(embedded)
            if inner:
                return f"{inner} written as IPv6"
            if address.ipv4_mapped is not None:
                return None  # ::ffff:<public IPv4> is that public address
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for reason, hit in checks:
        if hit:
            return f"a {reason} address"
    if not address.is_global:
        return "not a globally routable address"
    return None




def _resolve(host: str, port: int, setting: str = ENDPOINT_HOSTS_SETTING) -> list[str]:
    """Every address ``host`` resolves to (looked up at call time, so tests may replace the resolver)."""
    literal = _literal_ip(host)
    if literal is not None:
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError, ValueError) as exc:
        raise EgressError(f"Cannot resolve the host {host!r} ({exc}). Check the name; if only the workers can "
                          f"resolve it, add it to {setting}.") from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise EgressError(f"The host {host!r} resolves to no address.")
    return addresses


class EgressPolicy:
    """Decides whether a request may go to a host. ``allowed`` lists the hosts and networks that may be
    non-public; ``key_hosts`` ties key variables to the hosts they may be sent to."""

    def __init__(self, allowed: Iterable[HostRule] = (), key_hosts: Mapping[str, Sequence[HostRule]] | None = None,
                 *, setting: str = ENDPOINT_HOSTS_SETTING, endpoint_rules: Iterable[HostRule] | None = None) -> None:
        self.allowed = tuple(allowed)
        self.key_hosts = {name: tuple(rules) for name, rules in (key_hosts or {}).items()}
        self.setting = setting
        # Where an unlisted key may go: the endpoint allowlist (the same list, except for the Ray policy).
        self.endpoint_rules = self.allowed if endpoint_rules is None else tuple(endpoint_rules)

    @classmethod
    def from_settings(cls, allowed_hosts: str = DEFAULT_ENDPOINT_HOSTS, key_env_hosts: str = "", *,
                      setting: str = ENDPOINT_HOSTS_SETTING) -> "EgressPolicy":
        return cls(parse_rules(allowed_hosts, setting), parse_key_hosts(key_env_hosts), setting=setting)

    # ---------------------------------------------------------------- keys

    def check_key(self, target: Target, key_env: str) -> None:
        """Refuse sending the key in ``key_env`` to ``target`` (by the host as written; no DNS). Over plain
        ``http://`` a key goes only to a host an operator listed (a server on their own network): anyone on
        the path to a public host would read it. ``target.scheme`` is empty on the transport's per-connection
        check, where the URL's scheme was already checked before the call."""
        if not key_env:
            return
        bound = self.key_hosts.get(key_env)
        if bound is not None:
            if not any(rule.matches_host(target.host, target.port) for rule in bound):
                listed = ", ".join(rule.text for rule in bound)
                raise EgressError(
                    f"The key in {key_env} may only be sent to {listed} ({KEY_ENV_HOSTS_SETTING}), not to "
                    f"{target.netloc}. Use that host, another key variable, or add {target.netloc} to "
                    f"{key_env}'s hosts in {KEY_ENV_HOSTS_SETTING}.")
            if target.scheme == "http" and not any(rule.matches_host(target.host, target.port)
                                                   for rule in (*self.endpoint_rules, *self.allowed)):
                raise EgressError(
                    f"The key in {key_env} would travel unencrypted over http:// to {target.netloc}. Use an "
                    f"https:// URL; only a server on your own network listed in {ENDPOINT_HOSTS_SETTING} "
                    "receives keys over plain http.")
            return
        if not any(rule.matches_host(target.host, target.port) for rule in self.endpoint_rules):
            raise EgressError(
                f"{key_env} is not tied to any host in {KEY_ENV_HOSTS_SETTING}, so its key is only sent to hosts "
                f"listed in {ENDPOINT_HOSTS_SETTING}; {target.netloc} is in neither. Add "
                f"{key_env}={target.netloc} to {KEY_ENV_HOSTS_SETTING} to allow it.")

    # ---------------------------------------------------------------- addresses

    def _named(self, target: Target) -> bool:
        return any(rule.name is not None and rule.matches_host(target.host, target.port) for rule in self.allowed)

    def check_addresses(self, target: Target, addresses: Sequence[str]) -> None:
        for text in addresses:
            address = ipaddress.ip_address(text)
            if any(rule.matches_address(address, target.port) for rule in self.allowed):
                continue
            reason = refusal_reason(address)
            if reason:
                shown = target.host if target.host == text else f"{target.host}, which resolves to {text},"
                raise EgressError(
                    f"Requests to {shown} are refused: it is {reason}. If {target.netloc} is a server "
                    f"you run, add it (or its network, e.g. 10.0.0.0/8) to {self.setting}.")

    def resolve(self, target: Target) -> list[str]:
        """The addresses to connect to for ``target``, each one checked. A host listed by name is trusted
        with whatever it resolves to (the operator vouches for that name)."""
        addresses = _resolve(target.host, target.port, self.setting)
        if not self._named(target):
            self.check_addresses(target, addresses)
        return addresses

    def check_target(self, target: Target, key_env: str = "", *, resolve: bool = True) -> None:
        self.check_key(target, key_env)
        if self._named(target):
            return
        if resolve or _literal_ip(target.host) is not None:  # a literal address needs no DNS
            self.check_addresses(target, _resolve(target.host, target.port, self.setting))

    def check_url(self, url: str, key_env: str = "", *, resolve: bool = True) -> Target:
        """Parse ``url`` and refuse it (with :class:`EgressError`) unless requests may go there with that key.
        ``resolve=False`` checks what can be told without DNS (syntax, key binding, literal addresses)."""
        target = parse_url(url)
        self.check_target(target, key_env, resolve=resolve)
        return target

    def check_ray_address(self, address: str) -> Target | None:
        """Refuse a Ray address unless ``auto`` or listed (by name, or every address it resolves to inside a
        listed network), public or not: a Ray dashboard runs any job it is sent, so only clusters an
        operator named in the Ray allowlist are used."""
        target = parse_ray_address(address)
        if target is None or self._named(target):
            return target
        for text in _resolve(target.host, target.port, self.setting):
            ip = ipaddress.ip_address(text)
            if not any(rule.matches_address(ip, target.port) for rule in self.allowed):
                shown = target.host if target.host == text else f"{target.host} (which resolves to {text})"
                reason = refusal_reason(ip)
                raise self._unlisted_ray(target, shown, f" It is also {reason}." if reason else "")
        return target

    def _unlisted_ray(self, target: Target, shown: str = "", extra: str = "") -> EgressError:
        return EgressError(
            f"The Ray cluster at {shown or target.host} is not listed in {self.setting}: a Ray dashboard runs "
            f"any job it is sent, so only clusters an operator lists there (or 'auto', the worker's own "
            f"cluster) are used.{extra} If {target.netloc} is your cluster, add it to {self.setting}.")

    def check_key_for_cluster(self, target: Target, key_env: str) -> None:
        """Refuse forwarding the key in ``key_env`` to the Ray cluster at ``target`` in a job's runtime env:
        the cluster (and anyone who can submit jobs to it) can read it. Only a key tied in
        SKINFLOW_KEY_ENV_HOSTS to the Ray host itself may go there (by the host as written; no DNS)."""
        bound = self.key_hosts.get(key_env)
        if bound is not None and any(rule.matches_host(target.host, target.port) for rule in bound):
            return
        raise EgressError(
            f"The key in {key_env} would be sent to the Ray cluster at {target.netloc} (a reward endpoint reads "
            f"it), and {KEY_ENV_HOSTS_SETTING} does not allow that host for it. Add {target.host} to "
            f"{key_env}'s hosts in {KEY_ENV_HOSTS_SETTING} (e.g. {key_env}=api.openai.com,{target.host}), or "
            "run the judge/scorer endpoint without a key.")

    def connect_addresses(self, host: str, port: int, key_env: str = "") -> list[str]:
        """Called for every new connection: the checked addresses of ``host`` (key binding included)."""
        target = Target(scheme="", host=_canonical_host(host, host), port=port)
        self.check_key(target, key_env)
        return self.resolve(target)


# --------------------------------------------------------------------------- configuration


def _configured(name: str) -> str:
    """A setting from Django when it is configured (so tests' ``settings`` overrides apply), else from the
    environment (the verl driver and Ray jobs run without Django), else the default."""
    try:
        from django.conf import settings

        if settings.configured and hasattr(settings, name):
            return str(getattr(settings, name) or "")
    except ImportError:  # pure use without Django installed
        pass
    return os.environ.get(name, _DEFAULTS[name])


@functools.lru_cache(maxsize=32)
def _policy(allowed: str, key_hosts: str, setting: str, endpoint_hosts: str) -> EgressPolicy:
    endpoint_rules = parse_rules(endpoint_hosts, ENDPOINT_HOSTS_SETTING)
    return EgressPolicy(parse_rules(allowed, setting), parse_key_hosts(key_hosts), setting=setting,
                        endpoint_rules=endpoint_rules)


def configured_policy(kind: str = "endpoint") -> EgressPolicy:
    """The policy from the settings: ``endpoint`` (LLM and evaluation endpoints) or ``ray`` (Ray clusters)."""
    setting = {"endpoint": ENDPOINT_HOSTS_SETTING, "ray": RAY_HOSTS_SETTING}[kind]
    endpoint_hosts = _configured(ENDPOINT_HOSTS_SETTING)
    allowed = endpoint_hosts if kind == "endpoint" else _configured(RAY_HOSTS_SETTING)
    return _policy(allowed, _configured(KEY_ENV_HOSTS_SETTING), setting, endpoint_hosts)


def egress_error_in(exc: BaseException | None) -> EgressError | None:
    """The EgressError an HTTP library wrapped (openai raises APIConnectionError from it), if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, EgressError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


# --------------------------------------------------------------------------- start-up check


ROLE_NAMES = ("drafter", "structurer", "diagnoser", "judge", "scorer")  # webapp.llm.ROLES, without importing it


def configuration_problems(environ: Mapping[str, str] | None = None) -> list[tuple[str, str, bool]]:
    """``(setting, message, is_error)`` for every allowlist entry that cannot be read (an error: each request
    would fail with it) and every SKINFLOW_LLM_BASE_URL / SKINFLOW_<ROLE>_BASE_URL that does not parse (an
    error) or is refused by what can be told without DNS (a warning: literal addresses and key bindings;
    names are resolved at save and call time, never at start)."""
    environ = os.environ if environ is None else environ
    problems: list[tuple[str, str, bool]] = []
    lists: dict[str, str] = {}
    for setting in (ENDPOINT_HOSTS_SETTING, RAY_HOSTS_SETTING):
        lists[setting] = _configured(setting)
        for entry in [e.strip() for e in lists[setting].replace(",", " ").split() if e.strip()]:
            try:
                _parse_rule(entry, setting)
            except EgressError as exc:
                problems.append((setting, str(exc), True))
    key_hosts = _configured(KEY_ENV_HOSTS_SETTING)
    try:
        parse_key_hosts(key_hosts)
    except EgressError as exc:
        problems.append((KEY_ENV_HOSTS_SETTING, str(exc), True))
    if any(error for _, _, error in problems):
        return problems  # no policy to check the URLs against
    policy = configured_policy()
    urls = [("SKINFLOW_LLM_BASE_URL", _configured_url("SKINFLOW_LLM_BASE_URL", environ),
             _configured_url("SKINFLOW_LLM_API_KEY_ENV", environ))]
    for role in ROLE_NAMES:
        prefix = f"SKINFLOW_{role.upper()}_"
        if environ.get(prefix + "BASE_URL"):
            urls.append((prefix + "BASE_URL", environ[prefix + "BASE_URL"],
                         environ.get(prefix + "API_KEY_ENV", urls[0][2])))
    for setting, url, key_env in urls:
        if not url:
            continue
        try:
            target = parse_url(url)
        except EgressError as exc:
            problems.append((setting, str(exc), True))
            continue
        try:
            policy.check_target(target, key_env, resolve=False)
        except EgressError as exc:
            problems.append((setting, str(exc), False))
    return problems


def _configured_url(name: str, environ: Mapping[str, str]) -> str:
    try:
        from django.conf import settings

        if settings.configured and hasattr(settings, name):
            return str(getattr(settings, name) or "")
    except ImportError:  # pragma: no cover - pure use without Django installed
        pass
    return environ.get(name, "")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Django system check (registered in webapp/apps.py): a malformed allowlist or base URL is reported
    at start, naming the setting and the entry, instead of as an error on every request."""
    from django.core import checks

    found: list[Any] = []
    for setting, message, is_error in configuration_problems():
        kind = checks.Error if is_error else checks.Warning
        found.append(kind(message, obj=setting, id="webapp.E012" if is_error else "webapp.W012",
                          hint=f"Fix {setting} in the environment of the web and worker processes "
                               "(see the Egress paragraph of docs/architecture.md)."))
    return found


# --------------------------------------------------------------------------- the pinned HTTP transport


def checked_transport(policy: Callable[[], EgressPolicy], key_env: str = "", **transport_kwargs: Any) -> Any:
    """An async httpx transport whose every new connection resolves the host, checks each address with
    ``policy()`` and connects to a checked address itself (TLS still verifies the host name): no second
    lookup happens between check and connect, so DNS rebinding cannot slip past. Redirects are checked
    too, being new connections. Proxies from the environment are not used (a proxy would hide the
    address from the check)."""
    try:  # the same HTTP library the installed openai client is built on (see webapp/llm.py)
        import httpcore2 as httpcore
        import httpx2 as httpx
    except ImportError:  # pragma: no cover - older openai releases
        import httpcore  # type: ignore[no-redef]
        import httpx  # type: ignore[no-redef]

    import anyio

    class CheckedBackend(httpcore.AsyncNetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.AnyIOBackend()

        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None, socket_options: Any = None) -> Any:
            if _literal_ip(host) is not None:  # nothing to look up: no thread hop on the connection's path
                addresses = policy().connect_addresses(host, port, key_env)
            else:  # getaddrinfo blocks: keep it off the event loop
                addresses = await anyio.to_thread.run_sync(policy().connect_addresses, host, port, key_env)
            last: Exception | None = None
            for address in addresses:
                try:
                    return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                         socket_options=socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    last = exc
            assert last is not None
            raise last

        async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
            raise EgressError("LLM endpoints are reached over TCP only, not through a Unix socket.")

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    transport = httpx.AsyncHTTPTransport(**transport_kwargs)
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):  # fail loudly if httpx changes its insides
        raise RuntimeError("this httpx version gives no way to pin connections; update webapp/egress.py")
    pool._network_backend = CheckedBackend()
    return transport
