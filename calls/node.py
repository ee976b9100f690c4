"""This process as a node of the cluster (filled in by the signaling work)."""


class NodeLifecycle:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        return await self.app(scope, receive, send)
