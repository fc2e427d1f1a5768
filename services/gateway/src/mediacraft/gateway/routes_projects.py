"""Video-creation routes (the creation tool's timeline): projects, script generation, its status,
unfinished projects and their announcement. Each parses, calls one handler, replies in camelCase."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from mediacraft.gateway import projects
from mediacraft.gateway.http import ctx_of, reply, user_of
from mediacraft.gateway.project_views import project_view, status_view
from mediacraft.shared.error_texts import Lang, pick_lang
from mediacraft.shared.scripts import MAX_TARGET_SECONDS, MIN_TARGET_SECONDS

router = APIRouter(prefix="/api/video-creation", tags=["video-creation"])

MAX_PAGE = 100


class CreateProjectBody(BaseModel):
    """A new project's brief; `title` and `topic` are required."""

    model_config = ConfigDict(str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200, description="the video's title")
    topic: str = Field(min_length=1, max_length=4000, description="the topic or brief the script is written from")
    targetSeconds: int = Field(
        60, ge=MIN_TARGET_SECONDS, le=MAX_TARGET_SECONDS, description="the video's length in seconds"
    )
    language: Literal["en", "zh"] | None = Field(
        None, description="the script's language; by default the request's (Accept-Language)"
    )
    style: str = Field("informative", min_length=1, max_length=60, description="the tone of the script")


def answer_lang(request: Request) -> Lang:
    """The language of the sentences in the answer: `?lang=`, else Accept-Language, else English."""
    return pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))


@router.post("/projects", status_code=201, summary="Create a video-creation project")
async def create(request: Request, body: CreateProjectBody) -> Response:
    brief = projects.Brief(
        title=body.title,
        topic=body.topic,
        target_seconds=body.targetSeconds,
        language=body.language or answer_lang(request),
        style=body.style,
    )
    state = await projects.create_project(ctx_of(request), user_of(request), brief)
    return reply(request, project_view(state, answer_lang(request)), status=201)


@router.get("/projects", summary="The caller's projects, newest first")
async def list_all(
    request: Request,
    cursor: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=20, ge=1, le=MAX_PAGE),
) -> Response:
    states, next_cursor = await projects.list_projects(ctx_of(request), user_of(request), cursor=cursor, limit=limit)
    return reply(
        request, {"projects": [project_view(s, answer_lang(request)) for s in states], "nextCursor": next_cursor}
    )


@router.get("/unfinished", summary="Projects whose script is being written, or finished and not yet announced")
async def unfinished(request: Request) -> Response:
    states = await projects.unfinished(ctx_of(request), user_of(request))
    return reply(request, {"projects": [project_view(s, answer_lang(request)) for s in states]})


@router.get("/projects/{projectId}", summary="One project, with its status and script")
async def get_one(request: Request, projectId: str) -> Response:
    project_id = projects.checked_project_id(projectId)
    state = await projects.project_state(ctx_of(request), user_of(request), project_id)
    return reply(request, project_view(state, answer_lang(request)))


@router.post(
    "/projects/{projectId}/script",
    status_code=202,
    summary="Start writing the project's script in the background (409 while one is being written)",
)
async def start_script(request: Request, projectId: str) -> Response:
    project_id = projects.checked_project_id(projectId)
    state = await projects.start_script(ctx_of(request), user_of(request), project_id)
    return reply(request, status_view(state, answer_lang(request)), status=202)


@router.get("/projects/{projectId}/status", summary="Script generation status, progress, message, retries, script")
async def status(request: Request, projectId: str) -> Response:
    project_id = projects.checked_project_id(projectId)
    state = await projects.project_state(ctx_of(request), user_of(request), project_id)
    return reply(request, status_view(state, answer_lang(request)))


@router.post("/projects/{projectId}/notified", summary="Mark the project's finished generation as announced")
async def notified(request: Request, projectId: str) -> Response:
    project_id = projects.checked_project_id(projectId)
    state = await projects.mark_notified(ctx_of(request), user_of(request), project_id)
    return reply(request, status_view(state, answer_lang(request)))
