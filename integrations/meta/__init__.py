"""Meta: Facebook Page comments, Instagram comments and WhatsApp messages.

Webhooks come in at `GET/POST /webhooks/meta` (handshake, `X-Hub-Signature-256`-signed deliveries);
replies, likes and hides go out through the Graph API (`META_GRAPH_URL`).
"""
