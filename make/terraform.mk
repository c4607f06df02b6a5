# Terraform deploy flow, real-provider checks and provider-free checks. Thin wrappers over tools/tf.py,
# tools/tf_e2e.py, tools/tf_static.py, tools/checkov.sh and tools/deploy_fn.py, which all work without make.
# plan/apply/destroy/outputs/tf-init/tf-validate/tf-e2e need a real `terraform` (TERRAFORM=...) and the
# hashicorp/aws provider: a local mirror (TF_PROVIDER_MIRROR=..., or discovered) or the registry.
TERRAFORM ?= terraform
ENV ?= dev
NAME_PREFIX ?= wschat-$(ENV)
BACKEND_CONFIG ?= terraform/backend.hcl
PLAN_FLAGS ?=
OUTPUTS_FLAGS ?=
TF_FLOW = $(PY) tools/tf.py --terraform $(TERRAFORM) --env $(ENV)

.PHONY: tf-init tf-validate plan plan-summary apply apply-plan destroy outputs deploy-fn tf-e2e tf-fmt tf-static tf-test checkov tf-check

tf-init: venv ## terraform init for ENV: its own state key and data dir (BACKEND_CONFIG=terraform/backend.hcl, no key)
	@$(TF_FLOW) init --backend-config $(BACKEND_CONFIG)

tf-validate: venv ## terraform init -backend=false + validate with the real AWS provider (local mirror or registry)
	@$(TF_FLOW) validate

plan: build ## Build the zips, then plan ENV=dev|prod into build/terraform/<env>.tfplan (PLAN_FLAGS=--no-lock|--expect-no-changes)
	@$(TF_FLOW) plan $(PLAN_FLAGS)

plan-summary: venv ## Write the saved plan as text (build/terraform/<env>.plan.txt), for the PR comment
	@$(TF_FLOW) summary

apply: build ## Rebuild the (byte-identical) zips, then apply the saved plan of `make plan`
	@$(TF_FLOW) apply

apply-plan: venv ## Apply the saved plan with the zips already in build/ (CI: downloaded artifacts, no rebuild)
	@$(TF_FLOW) apply

destroy: venv ## terraform destroy ENV (asks unless AUTO_APPROVE=1; tables need deletion_protection = false first)
	@$(TF_FLOW) destroy $(if $(filter 1 true yes,$(AUTO_APPROVE)),--auto-approve)

outputs: venv ## terraform output of ENV: wss:// URL, management endpoint, table and function names (OUTPUTS_FLAGS=--json)
	@$(TF_FLOW) outputs $(OUTPUTS_FLAGS)

deploy-fn: venv ## Rebuild one zip and update only that function's code: make deploy-fn FN=send_message [ENV=dev]
	@test -n "$(FN)" || { echo "usage: make deploy-fn FN=<manifest function> [ENV=dev|NAME_PREFIX=...]" >&2; exit 2; }
	@$(PY) tools/deploy_fn.py $(FN) --name-prefix $(NAME_PREFIX)

tf-e2e: venv ## Apply the whole stack to a local AWS (moto), check it, re-plan empty, deploy-fn, destroy: ENV=dev|prod
	@$(PY) tools/tf_e2e.py --terraform $(TERRAFORM) --env $(ENV) $(TF_E2E_ARGS)

tf-fmt: venv ## Rewrite terraform/ in canonical format (embedded Terraform, no binary needed)
	@$(PY) tools/tf_static.py --write

tf-static: venv ## terraform fmt -check + offline configuration load (embedded Terraform, no provider)
	@$(PY) tools/tf_static.py

tf-test: venv ## Structural tests of terraform/ against the manifest, the models and config.py
	@$(PY) -m pytest tests/terraform tests/unit/test_deploy_fn.py -q

checkov: ## checkov on terraform/, offline, from its own pinned virtualenv (.venv-checkov)
	@tools/checkov.sh

tf-check: tf-static tf-test checkov ## Every provider-free Terraform check CI runs (fmt, load, tests, checkov)
