#!/bin/bash
# Allowed targets, through each kind of proxy.
curl -s -p -x http://localhost:8080 http://localhost:8081/via-connect
curl -s --proxy socks5h://localhost:1080 http://localhost:8081/via-socks5
curl -s --proxy socks4a://localhost:1080 http://localhost:8081/via-socks4a
curl -s --proxy socks4://localhost:1080 http://127.0.0.1:8081/via-socks4
# A target off the list: 403 to CONNECT, a refusal to SOCKS (curl says 97).
curl -s -p -x http://localhost:8080 http://localhost:8082/ -o /dev/null -w 'CONNECT answered %{http_connect}\n'
curl -s --proxy socks5h://localhost:1080 http://localhost:8082/; echo "SOCKS: curl exit $?"
# Not CONNECT: the HTTP proxy says what it is.
curl -s -i http://localhost:8080/ | head -1 | tr -d "\r"
