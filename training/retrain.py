"""Nightly / on-demand retrain of the learned scorers (and ORPO of the generator), run as a
subprocess by training/jobs.py (the library: training/retrain_job.py).

    python -m training.retrain --kind cnn|ae|all|orpo --db data/diagrambot.sqlite3 --data-dir data

- cnn: fine-tune the active CNN on fresh synthetic variants plus every rated diagram in storage
  (target: the mean user rating blended with the analytic score);
- ae: fine-tune the active autoencoder on synthetic and stored diagrams, embed every stored
  candidate with it into a staging table, then activate it and swap its latents in, in one
  transaction (a kept autoencoder re-embeds only the candidates whose latent is not its own);
- orpo: preference-tune the generator on pairs from the stored ratings (training/orpo_job.py) and
  activate it only if its exact-structure rate on synthetic validation requests is no worse.

A new version is written beside the old ones (atomically, under a name no other run uses) and
activated only if its validation is no worse than the active model's on the same held-out data;
otherwise the old one stays. It is registered under the job's id (env DIAGRAMBOT_JOB_ID), so a
crash after the activation committed is not undone by the job runner. The last stdout line is
one JSON object: {"status": "swapped"|"kept", "kind", "version_id", "metrics"}.

Killed anywhere (tests do it at every `checkpoint`), the database holds one consistent set of
active models, and every candidate's latent comes from the active autoencoder.
"""

from __future__ import annotations

import asyncio
import json
import logging

from training import options
from training.jobs import checkpoint, watch_parent
from training.retrain_job import RetrainSettings, job_id, run_job


def main(argv: list[str] | None = None) -> None:
    checkpoint("started")
    if job_id() is not None:  # started by the job runner: do not outlive it
        watch_parent()
    parser = options.add(options.parser(__doc__), RetrainSettings)
    settings = options.build(RetrainSettings, parser.parse_args(argv))
    if settings.reembed_batch < 1:
        parser.error("--reembed-batch must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(json.dumps(asyncio.run(run_job(settings))), flush=True)
    checkpoint("reported")


if __name__ == "__main__":
    main()
