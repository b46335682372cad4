"""The parts of vcrpy pytest_llm relies on although vcrpy does not promise them.

pytest_llm hands vcrpy's ``CassettePatcherBuilder`` its own object in place of a
``vcr.cassette.Cassette`` (:class:`pytest_llm.replay.interception._Router`, which forwards to
:class:`pytest_llm.replay.recorder.CassetteRecorder`), so whatever vcrpy's stubs read from
"the cassette" must be there, with the shape the stubs expect. These tests read vcrpy's own
sources (with ``ast``, nothing is imported from the stubs of libraries that may be missing)
and say which vcrpy release broke what, and where pytest_llm would need to adapt.

No network: the one round trip goes through ``MockTransport``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import importlib.util
import inspect
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import vcr
import vcr.patch
import vcr.request
import vcr.serialize
from vcr.serializers import yamlserializer

from pytest_llm.cassette import file_format
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.cassette.scrubbing import Scrubber
from pytest_llm.replay import interception
from pytest_llm.replay.recorder import CassetteRecorder, MissContext

VCRPY_VERSION = importlib.metadata.version("vcrpy")
VCR_SOURCE = Path(vcr.__file__).parent

INTERCEPTION = "pytest_llm/replay/interception.py"
RECORDER = "pytest_llm/replay/recorder.py"
INTERACTION = "pytest_llm/cassette/interaction.py"
FILE_FORMAT = "pytest_llm/cassette/file_format.py"

#: The methods at the heart of the contract: a scan that no longer finds them in the stubs
#: the plugin uses (http.client, requests and urllib3 share ``stubs/__init__.py``) is blind.
CORE_METHODS = {"can_play_response_for", "play_response", "append"}
#: Every patcher group (its absence is reported by its own test, not as an AttributeError).
PATCHER_NAMES: tuple[str, ...] = tuple(getattr(vcr.patch, "PATCHER_NAMES", ()))


def broken(what: str, module: str) -> str:
    return (
        f"vcrpy {VCRPY_VERSION} changed {what}; pytest_llm relies on it in {module}; "
        f"pin vcrpy below this version or adapt {module}"
    )


# --------------------------------------------------------------------------- reading vcrpy


@dataclasses.dataclass
class Use:
    """How vcrpy's sources use one attribute of the cassette object."""

    where: set[str] = dataclasses.field(default_factory=set)
    positional_args: set[int] = dataclasses.field(default_factory=set)  # once per call shape
    keywords: set[str] = dataclasses.field(default_factory=set)
    as_value: bool = False  # read without being called (a flag, a name, a collection)
    required: bool = False  # read other than through getattr(cassette, name, default)


def _is_cassette(node: ast.AST) -> bool:
    """``cassette``, ``self.cassette``, ``self._cassette``: how vcrpy names the object."""
    if isinstance(node, ast.Name):
        return node.id in ("cassette", "_cassette")
    return isinstance(node, ast.Attribute) and node.attr in ("cassette", "_cassette")


def _scan_source(source: str, where: str) -> dict[str, Use]:
    """Every ``<cassette>.name`` read or call, ``len(<cassette>)`` and
    ``getattr(<cassette>, "name"[, default])`` in one module's source."""
    uses: dict[str, Use] = defaultdict(Use)
    called: set[int] = set()
    nodes = list(ast.walk(ast.parse(source, where)))
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        func, args = node.func, node.args
        if isinstance(func, ast.Attribute) and _is_cassette(func.value):
            use = uses[func.attr]
            use.positional_args.add(len(args))
            use.keywords.update(k.arg for k in node.keywords if k.arg)
            use.required = True
            called.add(id(func))
        elif isinstance(func, ast.Name) and func.id == "len" and args and _is_cassette(args[0]):
            uses["__len__"].as_value = uses["__len__"].required = True
        elif (
            isinstance(func, ast.Name)
            and func.id == "getattr"
            and len(args) >= 2
            and _is_cassette(args[0])
            and isinstance(args[1], ast.Constant)
        ):
            use = uses[args[1].value]
            use.as_value = True
            use.required = use.required or len(args) == 2
    for node in nodes:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Load)
            and _is_cassette(node.value)
            and id(node) not in called
        ):
            uses[node.attr].as_value = uses[node.attr].required = True
    for use in uses.values():
        use.where.add(where)
    return dict(uses)


def _scan(paths: list[Path]) -> dict[str, Use]:
    merged: dict[str, Use] = defaultdict(Use)
    for path in paths:
        where = str(path.relative_to(VCR_SOURCE.parent))
        for name, use in _scan_source(path.read_text(encoding="utf-8"), where).items():
            into = merged[name]
            into.where |= use.where
            into.positional_args |= use.positional_args
            into.keywords |= use.keywords
            into.as_value = into.as_value or use.as_value
            into.required = into.required or use.required
    return dict(merged)


STUB_SOURCES = [*sorted((VCR_SOURCE / "stubs").glob("*.py")), VCR_SOURCE / "patch.py"]
#: The object patch.py and every stub are handed: what they read, and how.
STUB_USES = _scan(STUB_SOURCES)
#: What vcrpy's replay-miss exception reads. The recorder duck-types it, though vcrpy builds
#: it only when ``write_protected`` and ``can_play_response_for`` said no, which the recorder
#: never says together (a replay miss raises pytest_llm's own error first).
ERROR_USES = _scan([VCR_SOURCE / "errors.py"])


def _where(use: Use) -> str:
    return ", ".join(sorted(use.where))


# --------------------------------------------------------------------------- the plugin's objects


def _recorder(recorded: list[Interaction] | None = None, *, recording: bool) -> CassetteRecorder:
    return CassetteRecorder(
        Path("cassettes/test_contract.yaml"),
        recorded or [],
        recording=recording,
        scrubber=Scrubber(),
        on_call=lambda interaction: None,
        miss_context=MissContext(
            nodeid="tests/test_vcrpy_contract.py::contract",
            shown_path="cassettes/test_contract.yaml",
            record_command="pytest --llm-record",
            cassette_exists=recorded is not None,
        ),
    )


def _routed(recorder: CassetteRecorder) -> Any:
    """The object vcrpy's patchers are really built for, forwarding to ``recorder``."""
    router = interception._Router(skip_patchers=())
    router.current = recorder
    return router


def _provided(obj: Any, name: str) -> bool:
    # dunders are looked up on the type: __getattr__ forwarding does not reach them
    return hasattr(type(obj), name) if name.startswith("__") else hasattr(obj, name)


# --------------------------------------------------------------------------- the scan itself


def test_the_stubs_still_reach_the_cassette_by_the_names_the_scan_reads():
    for stub in ("stubs/__init__.py", "stubs/httpx_stubs.py"):
        found = set(_scan([VCR_SOURCE / stub]))
        assert found >= CORE_METHODS, broken(
            f"how vcr/{stub} reaches the cassette (no longer as `cassette.<name>` / "
            f"`self.cassette.<name>`: found {sorted(found)}), so this contract scan is blind",
            RECORDER,
        )


def test_the_scan_sees_reads_calls_len_and_getattr():
    uses = _scan_source(
        "def f(cassette, self):\n"
        "    cassette.append(1, 2)\n"
        "    if self.cassette.write_protected and len(cassette):\n"
        "        getattr(self._cassette, 'skip_patchers', ())\n"
        "    klass.cassette is None\n",
        "probe.py",
    )
    assert set(uses) == {"append", "write_protected", "__len__", "skip_patchers"}
    assert uses["append"].positional_args == {2} and not uses["append"].as_value
    assert uses["write_protected"].as_value and not uses["write_protected"].positional_args
    assert uses["__len__"].required
    assert not uses["skip_patchers"].required


# --------------------------------------------------------------------------- what the stubs read


def _assert_provided(obj: Any, uses: dict[str, Use], what: str, module: str) -> None:
    missing = {
        name: _where(use)
        for name, use in sorted(uses.items())
        if use.required and not _provided(obj, name)
    }
    assert not missing, broken(
        f"{what}: {missing} (attribute -> vcrpy files reading it) are not provided", module
    )


def _assert_calls_bind(obj: Any, uses: dict[str, Use], module: str) -> None:
    for name, use in sorted(uses.items()):
        if not use.positional_args:
            continue
        member = getattr(obj, name, None)
        assert callable(member), broken(
            f"cassette.{name} into something {_where(use)} calls", module
        )
        signature = inspect.signature(member)
        for count in sorted(use.positional_args):
            try:
                signature.bind(*range(count), **dict.fromkeys(use.keywords))
            except TypeError as error:
                raise AssertionError(
                    broken(
                        f"how {_where(use)} calls cassette.{name} ({count} positional "
                        f"arguments, keywords {sorted(use.keywords)}: {error})",
                        module,
                    )
                ) from None


ROUTED = f"{RECORDER} (CassetteRecorder) and {INTERCEPTION} (_Router)"


@pytest.mark.parametrize("recording", [False, True], ids=["replay", "record"])
def test_everything_the_stubs_read_from_the_cassette_is_provided(recording):
    router = _routed(_recorder(recording=recording))
    _assert_provided(router, STUB_USES, "what its stubs read from the cassette object", ROUTED)


@pytest.mark.parametrize("recording", [False, True], ids=["replay", "record"])
def test_cassette_methods_the_stubs_call_accept_their_arguments(recording):
    _assert_calls_bind(_routed(_recorder(recording=recording)), STUB_USES, ROUTED)


@pytest.mark.parametrize("recording", [False, True], ids=["replay", "record"])
def test_cassette_attributes_the_stubs_test_are_values_not_methods(recording):
    router = _routed(_recorder(recording=recording))
    for name, use in sorted(STUB_USES.items()):
        if use.as_value and use.required and not use.positional_args and name[:2] != "__":
            assert not callable(getattr(router, name)), broken(
                f"cassette.{name} into a plain value ({_where(use)} reads it without calling "
                "it; a method there would always be truthy)",
                ROUTED,
            )
    assert router.write_protected is (not recording)


def test_the_patch_builder_reads_the_routers_own_attributes():
    router = _routed(_recorder(recording=False))
    for name, kind in (("_path", str), ("custom_patches", tuple), ("skip_patchers", tuple)):
        assert name in STUB_USES, broken(
            f"vcr/patch.py no longer reading cassette.{name} (the router still sets it)",
            INTERCEPTION,
        )
        assert isinstance(getattr(router, name), kind), (name, getattr(router, name))


def test_what_vcrpys_miss_exception_reads_is_duck_typed_by_the_recorder():
    recorder = _recorder([], recording=False)
    what = "what CannotOverwriteExistingCassetteException reads from the cassette"
    _assert_provided(recorder, ERROR_USES, what, RECORDER)
    _assert_calls_bind(recorder, ERROR_USES, RECORDER)


# --------------------------------------------------------------------------- vcr.patch


def test_cassette_patcher_builder_takes_the_cassette_and_builds_without_arguments():
    builder = getattr(vcr.patch, "CassettePatcherBuilder", None)
    assert inspect.isclass(builder), broken(
        "or removed vcr.patch.CassettePatcherBuilder", INTERCEPTION
    )
    parameters = list(inspect.signature(builder).parameters)
    assert parameters == ["cassette"], broken(
        f"CassettePatcherBuilder's parameters to {parameters}", INTERCEPTION
    )
    build = getattr(builder, "build", None)
    assert callable(build), broken("or removed CassettePatcherBuilder.build", INTERCEPTION)
    required = [
        p
        for p in list(inspect.signature(build).parameters.values())[1:]
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert not required, broken(
        f"CassettePatcherBuilder.build's parameters ({required})", INTERCEPTION
    )


class _Target:
    attribute = "original"


def test_build_honours_skip_patchers_and_custom_patches():
    class Cassette:
        _path = "contract"
        skip_patchers = PATCHER_NAMES
        custom_patches = ((_Target, "attribute", "patched"),)

    patchers = list(vcr.patch.CassettePatcherBuilder(Cassette()).build())
    assert len(patchers) == 1, broken(
        f"CassettePatcherBuilder.build with every group in skip_patchers (it built "
        f"{len(patchers)} patchers, expected only the one custom patch): skipping the patcher "
        "groups of libraries that are not installed",
        INTERCEPTION,
    )
    with patchers[0]:
        assert _Target.attribute == "patched", broken(
            "how custom_patches are applied", INTERCEPTION
        )
    assert _Target.attribute == "original"


class _Base:
    inherited = "base"


class _Child(_Base):
    own = "child"


def test_plain_patches_are_applied_and_undone_as_mock_does():
    """The interceptor applies plain ``mock.patch.object`` patchers itself (mock's enter and
    exit cost more than a replayed call): an own attribute is restored, an inherited one is
    unshadowed, two patches of one attribute unwind in order, other patchers are entered."""
    entered: list[str] = []

    class Other:
        def __enter__(self) -> None:
            entered.append("in")

        def __exit__(self, *exc: object) -> None:
            entered.append("out")

    patchers = [
        mock.patch.object(_Child, "own", "first"),
        mock.patch.object(_Child, "inherited", "second"),
        mock.patch.object(_Child, "own", "third"),
        Other(),
    ]
    patches = interception._Patches(patchers)
    assert len(patches._plain) == 3 and patches._others == [patchers[3]]
    with patches.applied():
        assert (_Child.own, _Child.inherited, _Base.inherited) == ("third", "second", "base")
        assert entered == ["in"]
    assert (_Child.own, _Child.inherited, entered) == ("child", "base", ["in", "out"])
    assert "inherited" not in vars(_Child)
    with pytest.raises(RuntimeError), patches.applied():  # undone when the body raises too
        raise RuntimeError
    assert (_Child.own, _Child.inherited) == ("child", "base")


def test_a_patch_of_a_missing_attribute_fails_as_mock_fails_and_undoes_the_others():
    patches = interception._Patches(
        [mock.patch.object(_Child, "own", "patched"), mock.patch.object(_Child, "absent", 1)]
    )
    with pytest.raises(AttributeError, match="absent"), patches.applied():
        pass
    assert _Child.own == "child" and not hasattr(_Child, "absent")


def test_vcrpys_patchers_are_mostly_plain_patches():
    """Most of vcrpy's patchers take the cheap path; if vcrpy changes how it builds them,
    replay only gets slower, and this says so."""

    class Cassette:
        _path = "contract"
        skip_patchers = ()
        custom_patches = ()

    patchers = list(vcr.patch.CassettePatcherBuilder(Cassette()).build())
    plain = len(interception._Patches(patchers)._plain)
    assert plain >= len(patchers) // 2, broken(
        f"how patchers are built ({plain} of {len(patchers)} are plain patch.object)",
        INTERCEPTION,
    )


def test_patcher_names_name_every_group_the_plugin_may_skip():
    names = getattr(vcr.patch, "PATCHER_NAMES", None)
    assert isinstance(names, tuple) and all(isinstance(n, str) for n in names), broken(
        "or removed vcr.patch.PATCHER_NAMES (the names skip_patchers accepts)", INTERCEPTION
    )
    unknown = sorted(set(interception._PATCHER_MODULES) - set(names))
    assert not unknown, broken(
        f"the patcher group names: {unknown} are no longer in PATCHER_NAMES", INTERCEPTION
    )
    validate = getattr(vcr.patch, "validate_skip_patchers", None)
    if validate is not None:
        validate(interception.unneeded_patchers())


# --------------------------------------------------------------------------- requests, responses


def test_vcr_request_has_what_the_recorder_reads():
    parameters = list(inspect.signature(vcr.request.Request).parameters)
    assert parameters[:4] == ["method", "uri", "body", "headers"], broken(
        f"vcr.request.Request's parameters to {parameters}", RECORDER
    )
    request = vcr.request.Request(
        "POST", "http://api.test/v1/chat?x=1", b'{"a": 1}', {"Content-Type": "application/json"}
    )
    assert (request.method, request.uri, request.body) == (
        "POST",
        "http://api.test/v1/chat?x=1",
        b'{"a": 1}',
    ), broken("vcr.request.Request's method / uri / body attributes", RECORDER)
    assert request.headers.get("content-type") == "application/json", broken(
        "vcr.request.Request.headers (no longer a case-insensitive mapping with .get)", RECORDER
    )
    assert dict(request.headers.items()) == {"Content-Type": "application/json"}, broken(
        "vcr.request.Request.headers.items()", RECORDER
    )


def _httpx() -> Any:
    for name in ("httpx2", "httpx"):
        if importlib.util.find_spec(name) is not None:
            return importlib.import_module(name)
    pytest.skip("neither httpx2 nor httpx is installed")


@pytest.fixture
def interceptor() -> Callable[..., Any]:
    """The plugin's interception with vcrpy's patchers for the installed httpx flavour only."""
    httpx = _httpx()
    only_httpx = tuple(name for name in PATCHER_NAMES if name != httpx.__name__)
    return interception.Interceptor(only_httpx, ()).intercepting


def test_responses_round_trip_through_vcrpys_httpx_stub(interceptor):
    """Recording: the stub hands ``append`` the response in the shape the recorder reads.
    Replay: the stub turns ``play_response``'s dict back into the response the client sees."""
    httpx = _httpx()
    answer = {"id": "chatcmpl-1", "choices": [{"message": {"content": "hi"}}]}

    def live(request: Any) -> Any:
        return httpx.Response(200, json=answer, headers={"x-request-id": "req_1"})

    def unreachable(request: Any) -> Any:
        raise AssertionError("replay reached the transport")

    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    recorder = _recorder(recording=True)
    with (
        interceptor(recorder, block_network=False),
        httpx.Client(transport=httpx.MockTransport(live)) as client,
    ):
        client.post("http://api.test/v1/chat/completions?x=1", json=body)
    assert len(recorder.new) == 1 and not recorder.failures, broken(
        f"what the {httpx.__name__} stub passes to cassette.append "
        f"(recorded {recorder.new}, failures {recorder.failures})",
        RECORDER,
    )
    [recorded] = recorder.new
    assert (recorded.method, recorded.path, recorded.status) == (
        "POST",
        "/v1/chat/completions?x=1",
        200,
    ), broken("the request / response the httpx stub hands to cassette.append", RECORDER)
    assert json.loads(recorded.request_body) == body
    assert json.loads(recorded.response_body) == answer
    assert recorded.response_headers["x-request-id"] == ["req_1"], broken(
        "the response headers' shape in what the httpx stub passes to cassette.append", RECORDER
    )

    player = _recorder([recorded], recording=False)
    with (
        interceptor(player, block_network=False),
        httpx.Client(transport=httpx.MockTransport(unreachable)) as client,
    ):
        replayed = client.post("http://api.test/v1/chat/completions?x=1", json=body)
    assert player.played == [0], broken("when the httpx stub asks play_response", RECORDER)
    assert (replayed.status_code, replayed.json()) == (200, answer), broken(
        "the response dict the httpx stub replays (Interaction.to_vcr_response's shape)",
        INTERACTION,
    )
    assert replayed.headers["x-request-id"] == "req_1"


# --------------------------------------------------------------------------- vcrpy's cassette files


def test_cassettes_vcrpy_writes_are_read_by_the_plugin():
    assert vcr.serialize.CASSETTE_FORMAT_VERSION == file_format.VCRPY_VERSION, broken(
        f"its cassette format version to {vcr.serialize.CASSETTE_FORMAT_VERSION}", FILE_FORMAT
    )
    request = vcr.request.Request(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        b'{"model": "m"}',
        {"Content-Type": "application/json"},
    )
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"]},
        "body": {"string": b'{"id": "chatcmpl-1"}'},
    }
    text = vcr.serialize.serialize({"requests": [request], "responses": [response]}, yamlserializer)
    try:
        [interaction] = file_format.parse_cassette(text, "vcrpy.yaml")
    except Exception as error:
        raise AssertionError(
            broken(f"the cassette files it writes ({error!r})", FILE_FORMAT)
        ) from None
    assert (interaction.method, interaction.path, interaction.status, interaction.reason) == (
        "POST",
        "/v1/chat/completions",
        200,
        "OK",
    ), broken("the request / status layout of the cassette files it writes", FILE_FORMAT)
    assert interaction.request_body == b'{"model": "m"}', broken(
        "the request body layout of the cassette files it writes", FILE_FORMAT
    )
    assert interaction.response_body == b'{"id": "chatcmpl-1"}', broken(
        "the response body layout of the cassette files it writes", FILE_FORMAT
    )
    assert interaction.content_type == "application/json", broken(
        "the response header layout of the cassette files it writes", FILE_FORMAT
    )


def test_vcrpy_can_take_the_length_of_the_routed_cassette():
    """vcrpy's CannotOverwriteExistingCassetteException message asks ``len(cassette)``."""
    router = interception._Router(skip_patchers=())
    assert len(router) == 0
    recorded = Interaction(
        method="POST",
        path="/v1/x",
        request_body=b"{}",
        status=200,
        response_headers={},
        response_body=b"{}",
    )
    router.current = _recorder([recorded, recorded], recording=False)
    assert len(router) == 2
