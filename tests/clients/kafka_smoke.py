"""Round-trip one message through the local broker (scripts/kafka-local).

Uses the same producer settings the agent's exporter is expected to use
(acks=all, idempotence, lz4), so a broker that can't serve them fails here
rather than in a Rust test.

    $(scripts/py-env) tests/clients/kafka_smoke.py [TOPIC]
Env: KAFKA_BOOTSTRAP (127.0.0.1:$KAFKA_PORT or 127.0.0.1:9092).
"""

import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer

bootstrap = os.environ.get(
    "KAFKA_BOOTSTRAP", "127.0.0.1:" + os.environ.get("KAFKA_PORT", "9092")
)
topic = sys.argv[1] if len(sys.argv) > 1 else "tributary-smoke"
value = ("hello " + uuid.uuid4().hex).encode()
key = b"smoke"

producer = Producer(
    {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
    }
)
delivered = []


def on_delivery(err, msg):
    if err is not None:
        raise KafkaException(err)
    delivered.append((msg.partition(), msg.offset()))


producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
if producer.flush(15) != 0 or not delivered:
    sys.exit("produce: message not delivered within 15 s")
print(f"produced to {topic} partition={delivered[0][0]} offset={delivered[0][1]}")

consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": "tributary-smoke-" + uuid.uuid4().hex[:8],
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
)
consumer.subscribe([topic])
deadline = time.monotonic() + 30
try:
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        if msg.value() == value:
            consumer.commit(message=msg, asynchronous=False)
            print(f"consumed from {topic} partition={msg.partition()} offset={msg.offset()}")
            break
    else:
        sys.exit("consume: message not seen within 30 s")
finally:
    consumer.close()
