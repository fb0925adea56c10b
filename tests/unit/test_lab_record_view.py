"""The lab record's public view of a lab of several VMs: each VM's entry without the
SSM command ids the steps keep, as the lab's own init_command_id is left out."""

from __future__ import annotations

from ads.lab_record import LabRecord


def test_given_vm_entries_with_command_ids_when_viewed_then_only_the_bookkeeping_is_left_out() -> (
    None
):
    record = LabRecord(
        lab_id="two-roles-01jview",
        owner="arn:aws:iam::123456789012:user/alice",
        created_at="2026-12-02T06:00:00.000Z",
        updated_at="2026-12-02T06:00:00.000Z",
        init_command_id="cmd-lab",
        vms={
            "db-1": {
                "name": "db-1",
                "role": "db",
                "status": "HEALTHY",
                "init_command_id": "cmd-db",
                "facts_command_id": "cmd-facts",
                "init_started_at": "2026-12-02T06:01:00.000Z",
            }
        },
    )

    view = record.public_view()

    assert "init_command_id" not in view
    assert view["vms"]["db-1"] == {
        "name": "db-1",
        "role": "db",
        "status": "HEALTHY",
        "init_started_at": "2026-12-02T06:01:00.000Z",
    }
    assert record.vms["db-1"]["facts_command_id"] == "cmd-facts"  # the record keeps it
