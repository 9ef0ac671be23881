#!/bin/bash
# Through the front: the upgrade, echoes, a ping between fragments, the close.
python3 client.py 8080
# A plain request to the service is told to upgrade.
curl -s -i http://localhost:8081/ | head -1 | tr -d "\r"
