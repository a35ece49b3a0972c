# warroom worker / intake image. The same code as `make run`, pointed at a Temporal server by env.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY warroom ./warroom
COPY workflows ./workflows
COPY activities ./activities
COPY playbooks ./playbooks
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir . && useradd --create-home --uid 1000 warroom
USER warroom
ENV WARROOM_DATA_DIR=/home/warroom/data
ENTRYPOINT ["warroom"]
CMD ["worker"]
