"""uvicorn's WebSocket protocol, answering an upgrade request it cannot parse.

uvicorn's sans-I/O WebSocket protocol hands the upgrade request to websockets'
parser. For a request line over 8 KiB, too many or too long header lines, or
a malformed request, websockets records the failure (`handshake_exc`) and
prepares an answer (414, 431 or 400), but uvicorn never sends it: the socket
stays open, unanswered, until the client gives up. This subclass sends that
answer and closes the socket at once. Requests under websockets' limits never
get here; `RequestLimits` bounds those more tightly.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class BoundedUpgradeProtocol(WebSocketsSansIOProtocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.handshake_initiated or self.conn.handshake_exc is None:
            return
        if self.transport.is_closing():
            return
        self.handshake_complete = True
        self.close_sent = True
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()
