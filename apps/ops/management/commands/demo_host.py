"""Serve the widget demo page: an application's product page on another site than Patchbay (`make run`
starts it on the next port; see apps/connect/demo_host.py)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.connect.demo_host import demo_host_origin, demo_host_server
from apps.ops.management.commands.bootstrap_demo import DEMO_CUSTOMER, DEMO_SLUG


class Command(BaseCommand):
    help = "Serve a demo host page on another site that embeds the connect widget for the demo customer."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, required=True)

    def handle(self, *args, bind: str, port: int, **options):
        origin = demo_host_origin(base_url=settings.PATCHBAY_BASE_URL, port=port)
        server = demo_host_server(
            bind=bind, port=port, origin=origin, application_slug=DEMO_SLUG, customer_external_id=DEMO_CUSTOMER
        )
        self.stdout.write(f"Widget demo page on {origin}/ (embeds Patchbay's widget from {settings.PATCHBAY_BASE_URL})")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
