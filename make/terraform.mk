# Terraform deploy flow, real-provider checks and provider-free checks. Thin wrappers over tools/tf.py,
# tools/tf_e2e.py, tools/tf_static.py, tools/checkov.sh and tools/deploy_fn.py, which all work without make.
# plan/apply/destroy/outputs/tf-init/tf-validate/tf-e2e need a real `terraform` (TERRAFORM=...) and the
# hashicorp/aws provider: a local mirror (TF_PROVIDER_MIRROR=..., or discovered) or the registry.
# Values that reach a recipe from the command line or the environment are taken literally: make would
# otherwise expand a value such as $(shell ...) when it exports it. ENV and FN are then checked
# against what the project defines (terraform/envs/*.tfvars, manifest.json) before any shell sees them.
$(foreach v,ENV FN NAME_PREFIX REGION ARCH,$(if $(filter command line environment,$(origin $(v))),$(eval override $(v) := $$(value $(v)))))
TERRAFORM ?= terraform
ENV ?= dev
ENVS = $(basename $(notdir $(wildcard terraform/envs/*.tfvars)))
MANIFEST_FUNCTIONS = $(shell $(PY) -c 'from manifest import load_manifest; print(" ".join(load_manifest().functions))')
# exact, single-word match: a value with spaces, ';', '%' or quotes never passes
one_of = $(and $(filter 1,$(words $(1))),$(filter $(1),$(2)),$(if $(findstring %,$(1)),,ok))
CHECK_ENV = $(if $(call one_of,$(ENV),$(ENVS)),,$(error ENV must be one of: $(ENVS)))
NAME_PREFIX ?= wschat-$(ENV)
# tools/deploy_fn.py and tools/tf.py read these from the environment and check them: never recipe text
export NAME_PREFIX REGION
BACKEND_CONFIG ?= terraform/backend.hcl
PLAN_FLAGS ?=
OUTPUTS_FLAGS ?=
TF_FLOW = $(CHECK_ENV)$(PY) tools/tf.py --terraform $(TERRAFORM) --env $(ENV)

.PHONY: account-baseline tf-init tf-validate plan plan-summary apply apply-plan destroy outputs deploy-fn tf-e2e tf-fmt tf-static tf-test checkov tf-check

tf-init: venv ## terraform init for ENV: its own state key and data dir (BACKEND_CONFIG=terraform/backend.hcl, no key)
	@$(TF_FLOW) init --backend-config $(BACKEND_CONFIG)

account-baseline: venv ## Once per account+region: the API Gateway CloudWatch role stage logs need (ENV's region or REGION=; AUTO_APPROVE=1)
	@$(TF_FLOW) baseline --backend-config $(BACKEND_CONFIG) $(if $(filter 1 true yes,$(AUTO_APPROVE)),--auto-approve)

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

deploy-fn: venv ## Redeploy one function's code (and the shared layer if it changed): make deploy-fn FN=send_message [ENV=dev]
	@$(if $(call one_of,$(FN),$(MANIFEST_FUNCTIONS)),,$(error usage: make deploy-fn FN=<one of: $(MANIFEST_FUNCTIONS)> [ENV=dev|NAME_PREFIX=...]))$(CHECK_ENV)$(PY) tools/deploy_fn.py $(FN)

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
