"""The drafting run page's live progress: ``GET /api/drafting-runs/{id}/progress/`` (admins).

One poll costs three queries (counts and tokens in one aggregate, the page's rows, the grouped errors). The page
sends back the tokens of the rows it shows (``?have=``); only rows whose state or attempts changed, or that are
new on the page, are sent again, and only what is sent is recorded in the access audit trail as a sample list,
so a page left open on a long run neither re-sends nor re-records 50 unchanged rows every two seconds.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from annotations import selectors
from annotations.forms import RunJobsQuery
from annotations.models import DraftingRun
from annotations.serializers import DraftingRunProgressSerializer
from webapp import audit, redact
from webapp.models import AccessEvent
from webapp.roles import ADMIN, IsAdminRole, has_role


def progress_payload(status: selectors.RunStatus, *, have: set[str], is_admin: bool) -> dict[str, Any]:
    run, overview = status.run, status.overview
    rows = []
    for job in status.page.object_list:
        if job.token in have:
            continue
        sample = job.sample
        rows.append({
            "id": job.pk, "token": job.token, "sample_id": sample.pk, "label": sample.label,
            "external_id": sample.external_id, "state": job.state, "state_display": job.get_state_display(),
            "attempts": job.attempts, "reason": redact.error_for(job.reason, is_admin=is_admin),
            # Lists never show a photo marked as identifying (as the evaluation lists); its own page does.
            "thumbnail_url": (reverse("sample-thumbnail", args=[sample.pk])
                              if sample.image and not sample.identifying_content else None),
            "image_hidden": bool(sample.identifying_content),
            "sample_url": reverse("review-sample", args=[sample.pk]),
        })
    errors = [{**group, "error": redact.error_for(group["error"], is_admin=is_admin),
               "sample_url": reverse("review-sample", args=[group["sample_id"]]) if group["sample_id"] else None}
              for group in status.errors]
    return {
        "id": run.pk, "state": run.state, "state_display": run.get_state_display(), **overview,
        "errors": errors, "rows": rows,
        "page": {"number": status.page.number, "num_pages": status.page.paginator.num_pages,
                 "count": status.page.paginator.count, "ids": [job.pk for job in status.page.object_list],
                 "notice": status.page_notice},
    }


class DraftingRunProgressView(generics.GenericAPIView):
    queryset = DraftingRun.objects.select_related("dataset")
    serializer_class = DraftingRunProgressSerializer
    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="drafting_runs_progress",
        parameters=[
            OpenApiParameter("state", str, enum=[s for s, _ in RunJobsQuery.base_fields["state"].choices if s],
                             description="Only jobs in this state (the page's state chips)."),
            OpenApiParameter("page", int, description="Page of the job table (50 a page); past the end, the last."),
            OpenApiParameter("have", str, description="Comma-separated row tokens the page already shows."),
        ],
        responses={200: DraftingRunProgressSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        """Admins: a drafting run's counts, throughput and ETA, grouped errors and its table's changed rows."""
        run = self.get_object()
        query = RunJobsQuery(request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        status = selectors.drafting_run_status(run, state=query.cleaned_data["state"],
                                               page=query.cleaned_data["page"])
        have = set(filter(None, request.query_params.get("have", "").split(",")))
        body = progress_payload(status, have=have, is_admin=has_role(request.user, ADMIN))
        if body["rows"]:
            audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [r["sample_id"] for r in body["rows"]], run)
        return Response(DraftingRunProgressSerializer(body).data)
