import socket


def connect(host, port=8080, timeout=10):
    """Open a TCP connection to host:port."""
    sock = socket.create_connection((host, port), timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_all(sock, data):
    view = memoryview(data)
    while view:
        n = sock.send(view)
        view = view[n:]
