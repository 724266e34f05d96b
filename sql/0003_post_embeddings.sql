-- What the embedding worker stores: one row per embedded post, and one row
-- per chunk of it with its vector.

-- The post row orders concurrent jobs for one post: a job locks it first, and gives way
-- when a job enqueued later has already stored its result (enqueued_at), so the last
-- enqueued version of a post wins whatever order the jobs finish in.
CREATE TABLE embedded_posts (
  post_id     text        PRIMARY KEY,
  enqueued_at timestamptz,
  model       text        NOT NULL,
  chunks      integer     NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A re-run of a post's job replaces its chunks (upsert by chunk, drop chunks past the new count).
CREATE TABLE post_embeddings (
  post_id     text        NOT NULL REFERENCES embedded_posts (post_id) ON DELETE CASCADE,
  chunk_index integer     NOT NULL,
  content     text        NOT NULL,
  embedding   real[]      NOT NULL,
  model       text        NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (post_id, chunk_index)
);
