"""An independent HL7 peer, run as its own process: python-hl7's blocking MLLP client
as a sending hospital system, or its asyncio MLLP server as a HIS receiving our
status messages: an independent peer in its own process.

    python peer.py send HOST PORT [TIMEOUT]  < JSON list of base64 messages; prints JSON list of
                                      base64 answers ("" when the connection closed)
    python peer.py his PORT FILE [ACK_CODE]  answers every message with ACK_CODE (AA),
                                      appending each message to FILE (one line each)
"""

import asyncio
import base64
import json
import sys

import hl7
from hl7.client import MLLPClient
from hl7.mllp import start_hl7_server

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def read_answer(client: MLLPClient) -> bytes:
    """The client's send() reads once; read on until the frame ends."""
    data = b""
    while not data.endswith(EB + CR):
        chunk = client.socket.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def send(host: str, port: int, timeout: float) -> None:
    messages = [base64.b64decode(m) for m in json.load(sys.stdin)]
    answers = []
    with MLLPClient(host, port) as client:
        client.socket.settimeout(timeout)
        for message in messages:
            if message.startswith(SB):  # raw bytes, framing as the test wants it
                client.socket.sendall(message)
            else:
                client.socket.sendall(SB + message + EB + CR)
            try:
                answers.append(read_answer(client))
            except TimeoutError:
                answers.append(b"")
    print(json.dumps([base64.b64encode(a).decode() for a in answers]))


def his(port: int, path: str, ack_code: str) -> None:
    async def on_connection(reader, writer):
        try:
            while True:
                message = await reader.readmessage()
                with open(path, "a", encoding="utf-8") as out:
                    out.write(str(message).replace("\r", "\\r") + "\n")
                writer.writemessage(message.create_ack(ack_code))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()
        except Exception as exc:  # a message it cannot read: say so, close
            print(f"peer: {exc!r}", file=sys.stderr, flush=True)
            writer.close()

    async def main():
        server = await start_hl7_server(on_connection, "127.0.0.1", port, encoding="utf-8")
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    assert hl7.__name__ == "hl7" and hasattr(hl7, "parse"), "not the python-hl7 library"
    if sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 30)
    else:
        his(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "AA")
