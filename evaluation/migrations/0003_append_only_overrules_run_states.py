"""Overrules become an append-only log per dermatologist; runs get honest end states, a cache-bypass
option and the timestamps the reaper needs.

Existing overrule rows are kept as they are: each was one dermatologist's latest verdict, so it
becomes that dermatologist's standing verdict. Its ``created_at`` takes the old ``updated_at`` (the
moment the category it holds was set) before that column goes. Runs a worker may still be on get
``enqueued_at`` so the reaper can pick them up if they stalled.
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Coalesce


def keep_verdict_times(apps, schema_editor):
    Overrule = apps.get_model("evaluation", "Overrule")
    Overrule._base_manager.update(created_at=F("updated_at"))


def mark_active_runs_enqueued(apps, schema_editor):
    EvalRun = apps.get_model("evaluation", "EvalRun")
    EvalRun._base_manager.filter(status__in=["pending", "inferring", "judging"]).update(
        enqueued_at=Coalesce("started_at", "created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('evaluation', '0002_key_env_validators'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='overrule',
            options={'ordering': ['item', 'rank', 'created_at', 'id']},
        ),
        migrations.RemoveConstraint(
            model_name='overrule',
            name='overrule_unique_rank',
        ),
        migrations.RunPython(keep_verdict_times, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='overrule',
            name='updated_at',
        ),
        migrations.AddField(
            model_name='evalitem',
            name='answered_at',
            field=models.DateTimeField(blank=True, help_text="When the model's answer was stored.", null=True),
        ),
        migrations.AddField(
            model_name='evalrun',
            name='enqueued_at',
            field=models.DateTimeField(blank=True, help_text='When the run was last handed to the task queue (tried, even if the broker was down); empty for runs driven from the command line, which the reaper leaves alone.', null=True),
        ),
        migrations.RunPython(mark_active_runs_enqueued, migrations.RunPython.noop),
        migrations.AddField(
            model_name='evalrun',
            name='fresh_answers',
            field=models.BooleanField(default=False, help_text='Bypass the LLM response cache: ask the model under test again for every sample (a resumed run still reuses the answers it already paid for).'),
        ),
        migrations.AddField(
            model_name='overrule',
            name='withdrawn',
            field=models.BooleanField(default=False, help_text="This row withdraws the author's earlier verdict."),
        ),
        migrations.AlterField(
            model_name='evalrun',
            name='status',
            field=models.CharField(choices=[('pending', 'pending'), ('inferring', 'inferring'), ('judging', 'judging'), ('done', 'done'), ('partially_failed', 'partially failed'), ('failed', 'failed')], default='pending', max_length=20),
        ),
        migrations.AlterField(
            model_name='overrule',
            name='category',
            field=models.CharField(blank=True, choices=[('exact', 'exact'), ('subclass', 'subclass'), ('parent_close', 'parent close'), ('parent_coarse', 'parent coarse'), ('parent_broad', 'parent broad'), ('sibling', 'sibling'), ('safety_critical', 'safety critical'), ('unrelated', 'unrelated'), ('invalid', 'invalid')], help_text='Empty for a withdrawal.', max_length=20),
        ),
        migrations.AlterField(
            model_name='overrule',
            name='judge_category',
            field=models.CharField(blank=True, help_text="The judge's majority category at the time of this action.", max_length=20),
        ),
        migrations.AddIndex(
            model_name='overrule',
            index=models.Index(fields=['item', 'rank', 'user', 'created_at'], name='overrule_author_latest'),
        ),
        migrations.AddConstraint(
            model_name='overrule',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('category', ''), ('withdrawn', True)), models.Q(('withdrawn', False), models.Q(('category', ''), _negated=True)), _connector='OR'), name='overrule_category_or_withdrawal'),
        ),
    ]
