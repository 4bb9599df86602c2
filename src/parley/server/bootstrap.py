"""First start: an admin API key and a demo agent."""

from __future__ import annotations

from dataclasses import dataclass

from parley.storage import AgentRepository, ApiKeyRepository, Database

DEMO_AGENT_ID = "agt_demo"
DEFAULT_VOICE_ID = "en_US-joe-medium"
DEMO_PROMPT = (
    "You are Parley, a friendly and concise voice assistant running entirely on the "
    "user's own machine. Answer questions helpfully and briefly."
)
DEMO_FIRST_MESSAGE = "Hi, I'm the Parley demo agent. What can I do for you?"


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """What a first start created; ``admin_key`` is the only copy of the plaintext."""

    admin_key: str | None
    demo_agent_id: str


async def bootstrap(db: Database) -> BootstrapResult:
    """Create the admin key (only if no key exists) and the demo agent (if missing).

    Safe when several replicas start at once on one database: the checks and creations
    run under ``db.exclusive("bootstrap")``, so exactly one of them creates each.
    """
    keys, agents = ApiKeyRepository(db), AgentRepository(db)
    admin_key = None
    async with db.exclusive("bootstrap"):
        if await keys.count() == 0:
            _, admin_key = await keys.create("admin", is_admin=True)
        if await agents.get(DEMO_AGENT_ID) is None:
            await agents.create(
                agent_id=DEMO_AGENT_ID,
                name="Parley demo",
                system_prompt=DEMO_PROMPT,
                voice_id=DEFAULT_VOICE_ID,
                first_message=DEMO_FIRST_MESSAGE,
            )
    return BootstrapResult(admin_key, DEMO_AGENT_ID)
