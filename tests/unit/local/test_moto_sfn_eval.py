"""moto's Step Functions interpreter parses each JSONPath once and shares one client per
service: the same values found, from many threads at once, and moto's own functions back
once the plane stops."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

from ads.local import moto_sfn_eval

PATHS = ["$", "$.lab_id", "$.plan.vms[0].name", "$.items[*].id", "$.a.b.c", "$.items[1:]"]


def _document(index: int) -> dict:
    return {
        "lab_id": f"lab-{index}",
        "plan": {"vms": [{"name": f"vm-{index}"}, {"name": "other"}]},
        "items": [{"id": index}, {"id": index + 1}, {"id": index + 2}],
        "a": {"b": {"c": [index]}},
    }


def test_given_json_paths_when_parsed_through_the_cache_then_they_find_what_moto_finds():
    from moto.stepfunctions.parser.asl.utils import json_path

    extract = json_path.extract_json
    original = json_path.parse
    expected = [[extract(path, _document(i)) for path in PATHS] for i in range(3)]
    undo = moto_sfn_eval.install()
    try:
        assert json_path.parse is not original
        assert json_path.parse("$.lab_id") is json_path.parse("$.lab_id")
        assert [[extract(path, _document(i)) for path in PATHS] for i in range(3)] == expected
    finally:
        undo()
    assert json_path.parse is original


def test_given_a_result_path_when_cached_then_it_writes_into_each_input_as_before():
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    inputs = [{"lab_id": f"lab-{i}", "result": {"old": True}} for i in range(3)]
    expected = [
        result_path.parse("$.result.vm").update_or_create(copy.deepcopy(d), {"id": i})
        for i, d in enumerate(inputs)
    ]
    undo = moto_sfn_eval.install()
    try:
        found = [
            result_path.parse("$.result.vm").update_or_create(copy.deepcopy(d), {"id": i})
            for i, d in enumerate(inputs)
        ]
    finally:
        undo()
    assert found == expected


def test_given_many_threads_when_they_evaluate_shared_paths_then_each_finds_its_own_values():
    from moto.stepfunctions.parser.asl.utils import json_path

    def evaluate_all(index: int) -> list:
        return [
            [json_path.extract_json(path, _document(index * 100 + r)) for path in PATHS]
            for r in range(50)
        ]

    expected = [evaluate_all(index) for index in range(16)]
    undo = moto_sfn_eval.install()
    try:
        gate = threading.Barrier(16)

        def evaluate(index: int) -> list:
            gate.wait()
            return evaluate_all(index)

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(evaluate, range(16)))
    finally:
        undo()
    assert results == expected
    assert results[3][7][1] == "lab-307"


def test_given_tasks_of_many_threads_when_they_ask_for_clients_then_one_is_built_per_service():
    built: list[tuple[str, str]] = []
    lock = threading.Lock()

    def build(region: str, service: str) -> object:
        with lock:
            built.append((region, service))
        return object()

    shared = moto_sfn_eval.SharedClients(build, lambda: True)
    gate = threading.Barrier(12)

    def ask(index: int) -> object:
        gate.wait()
        service = "lambda" if index % 2 else "stepfunctions"
        return shared("us-east-1", service, state_credentials=object())

    with ThreadPoolExecutor(max_workers=12) as pool:
        clients = list(pool.map(ask, range(12)))

    assert sorted(built) == [("us-east-1", "lambda"), ("us-east-1", "stepfunctions")]
    assert len({id(client) for client in clients}) == 2
    assert shared(region="eu-west-1", service="lambda") is not clients[1]
    shared.clear()
    assert shared("us-east-1", "lambda") is not clients[1]


def test_given_the_patch_when_undone_then_moto_builds_its_clients_itself_again():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    undo = moto_sfn_eval.install()
    try:
        assert isinstance(lambda_eval_utils.boto_client_for, moto_sfn_eval.SharedClients)
    finally:
        undo()
    assert lambda_eval_utils.boto_client_for is original
    assert boto_client.boto_client_for is original
