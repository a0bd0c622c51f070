"""Past one machine: a stage of mldock.json as a job on SageMaker, Vertex AI, Azure ML or Kubernetes.

    from mldock.submit import job_spec, load_engine
    engine = load_engine("sagemaker")                       # imports that platform's SDK only
    spec = job_spec(project, project.stage("prod"), "sagemaker", image=ImageRef.parse(pushed_reference))
    request = engine.build_request(spec)
    engine.validate_request(request)                        # the engine's own models, offline; UserError
    engine.submit(request, spec.settings)

One module per platform (sagemaker, vertex, azureml, kubernetes), each with build_request, validate_request,
submit and status; `job` holds what a stage turns into (JobSpec), `image` which image a job runs, `records`
the submitted jobs `mldock status` reads. Nothing here imports a cloud SDK until its platform is loaded.
"""

from __future__ import annotations

from mldock.submit.engines import Engine, load_engine
from mldock.submit.job import PLATFORMS, ImageRef, JobSpec, job_spec

__all__ = ["PLATFORMS", "Engine", "ImageRef", "JobSpec", "job_spec", "load_engine"]
