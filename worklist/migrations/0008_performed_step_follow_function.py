"""worklist_follow(): the writes that follow a performed step's change (step and
order statuses, order history lines) as one server-side call on PostgreSQL (called by
worklist/services/performed_steps.py). The SQL lives here, frozen with the migration
that installs it. Other databases write them through the ORM."""

from django.db import migrations

FOLLOW_FUNCTION = """
CREATE OR REPLACE FUNCTION worklist_follow(
    p_steps bigint[], p_step_statuses text[], p_orders bigint[], p_order_statuses text[],
    p_line_orders bigint[], p_line_kinds text[], p_line_details text[], p_line_users integer[],
    p_now timestamptz
) RETURNS void LANGUAGE sql VOLATILE AS $$
    UPDATE worklist_scheduledprocedurestep AS s
    SET scheduled_procedure_step_status = c.status, updated_at = p_now
    FROM unnest(p_steps, p_step_statuses) AS c(id, status) WHERE s.id = c.id;
    UPDATE worklist_order AS o SET status = c.status, updated_at = p_now
    FROM unnest(p_orders, p_order_statuses) AS c(id, status) WHERE o.id = c.id;
    INSERT INTO worklist_orderevent (order_id, at, kind, user_id, detail)
    SELECT l.order_id, p_now, l.kind, l.user_id, l.detail
    FROM unnest(p_line_orders, p_line_kinds, p_line_details, p_line_users)
        AS l(order_id, kind, detail, user_id);
$$
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FOLLOW_FUNCTION)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS worklist_follow")


class Migration(migrations.Migration):
    dependencies = [("worklist", "0007_performed_procedure_step")]

    operations = [migrations.RunPython(install, uninstall)]
