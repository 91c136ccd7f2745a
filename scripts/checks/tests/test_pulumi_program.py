"""The Pulumi program and its stack files pass, and each broken copy fails with an error that
says why: one case per rule, planted in a copy of the real program."""

import copy
import unittest
from pathlib import Path

import yaml

from checks.pulumi_program import EXAMPLE_STACK, EXAMPLE_STACKS, ROOT, check, check_network, load, load_network


def broken_copies(program, stacks, contexts):
    """name -> (a change to a copy of the program, words its error must hold). A change may
    also edit `stacks` or `contexts`, which the test restores after each case."""

    def container(p):
        return p["resources"]["ingestService"]["properties"]["template"]["containers"][0]

    def resource(p, name):
        return p["resources"][name]["properties"]

    def read_env(p, name):
        envs = resource(p, "readService")["template"]["containers"][0]["envs"]
        return next(e for e in envs if e["name"] == name)

    def rename(p, old, new):
        """The program with a resource renamed, its references included."""
        text = yaml.safe_dump(p).replace(f"{old}:", f"{new}:").replace(f"${{{old}.", f"${{{new}.")
        p.clear()
        p.update(yaml.safe_load(text))

    def drop(p, name, *references):
        """The program without a resource, and without the dependsOn entries that name it."""
        del p["resources"][name]
        for other in p["resources"].values():
            depends = (other.get("options") or {}).get("dependsOn") or []
            for reference in references:
                if reference in depends:
                    depends.remove(reference)

    def slot_options(node):
        """The options of a fn::select over dbLoginSlot."""
        assert node["fn::select"][0] == "${dbLoginSlot}", node
        return node["fn::select"][1]

    def env_of(p, resource_name, name):
        template = resource(p, resource_name)["template"]
        envs = template.get("template", template)["containers"][0]["envs"]
        return next(e for e in envs if e["name"] == name)

    def stack_setting(key, value):
        def change(_):
            for path, stack in stacks:
                if Path(path).name == EXAMPLE_STACKS[0]:
                    stack["config"][f"rust-pubsub-pipeline:{key}"] = value
        return change

    cases = {
        "misspelt nested property": (
            lambda p: container(p).__setitem__("volumeMount", container(p).pop("volumeMounts")), "volumeMount"),
        "misspelt deep property": (
            lambda p: p["resources"]["ingestService"]["properties"]["scaling"].__setitem__(
                "maxInstancesCount", 4), "maxInstancesCount"),
        "unknown type": (lambda p: p["resources"]["topic"].__setitem__("type", "gcp:pubsub:Topik"), "Topik"),
        "unknown module": (lambda p: p["resources"]["topic"].__setitem__("type", "gcp:pubsubb:Topic"), "pubsubb"),
        "dangling reference": (
            lambda p: p["outputs"].__setitem__("readUrl", "${readServce.uri}"), "readServce"),
        "unknown nested output": (
            lambda p: resource(p, "ingestSubscriptionPolicy")["environment"].__setitem__(
                "SUBSCRIPTION", "${ingestTrigger.transport.pubsubs.subscription}"), "no output 'pubsubs'"),
        "unknown output": (
            lambda p: p["outputs"].__setitem__("databaseConnectionName", "${dbInstance.connectionNam}"), "connectionNam"),
        "missing required property": (
            lambda p: p["resources"]["ingestTrigger"]["properties"].pop("location"), "location"),
        "public ingest (allUsers)": (
            lambda p: p["resources"].__setitem__("ingestPublic", {
                "type": "gcp:cloudrunv2:ServiceIamMember",
                "properties": {"location": "${region}", "name": "${ingestService.name}",
                               "role": "roles/run.invoker", "member": "allUsers"}}), "publicly invokable"),
        "public ingest (invoker check off)": (
            lambda p: p["resources"]["ingestService"]["properties"].__setitem__("invokerIamDisabled", True),
            "invoker check"),
        "trigger cannot invoke ingest": (
            lambda p: p["resources"]["triggerInvokesIngest"]["properties"].__setitem__(
                "member", "serviceAccount:${readAccount.email}"), "no roles/run.invoker"),
        "misspelt property four levels down": (
            lambda p: slot_options(container(p)["envs"][3]["valueSource"]["secretKeyRef"])[1].__setitem__(
                "secrett", slot_options(container(p)["envs"][3]["valueSource"]["secretKeyRef"])[1].pop("secret")),
            "secrett"),
        "misspelt property of another provider": (
            lambda p: p["resources"]["ingestImage"]["properties"]["context"].__setitem__(
                "locaton", ".."), "locaton"),
        "plain-text password": (
            lambda p: p["config"]["dbPassword"].pop("secret"), "secret"),
        # 1: names
        "Cloud SQL instance autonamed from a camelCase logical name": (
            lambda p: rename(p, "pipeline-db", "dbInstance"), "'dbInstance-1a2b3c4'"),
        "service account id too short": (
            lambda p: resource(p, "readAccount").__setitem__("accountId", "rd"), "6 to 30 characters"),
        "Cloud Run service name with an underscore": (
            lambda p: resource(p, "readService").__setitem__("name", "read_fn"), "'read_fn' (explicit)"),
        "topic name from config that starts with goog": (
            lambda p: p["config"]["topicName"].__setitem__("default", "google-events"), "'google-events'"),
        "type without a naming rule": (
            lambda p: p["resources"].__setitem__("extraInstance", {
                "type": "gcp:redis:Instance", "properties": {"memorySizeGb": 1},
                "options": {"version": "10.2.0"}}), "no naming rule"),
        # 2: service agents in a fresh project
        "no Eventarc service agent": (
            lambda p: drop(p, "eventarcAgent"), "eventarc.googleapis.com service agent"),
        "trigger does not wait for propagation": (
            lambda p: p["resources"]["ingestTrigger"]["options"]["dependsOn"].remove("${eventarcAgentPropagation}"),
            "propagate"),
        # 4: teardown
        "SQL user dropped on destroy": (
            lambda p: resource(p, "dbUser").pop("deletionPolicy"), "deletionPolicy: ABANDON"),
        # 8: least privilege
        "project-wide token creator": (
            lambda p: p["resources"].__setitem__("pubsubTokenCreator", {
                "type": "gcp:projects:IAMMember", "options": {"version": "10.2.0"},
                "properties": {"project": "${projectInfo.projectId}", "role": "roles/iam.serviceAccountTokenCreator",
                               "member": "${pubsubAgent.member}"}}), "act as every account"),
        "event receiver for direct Pub/Sub events": (
            lambda p: p["resources"].__setitem__("triggerEventReceiver", {
                "type": "gcp:projects:IAMMember", "options": {"version": "10.2.0"},
                "properties": {"project": "${projectInfo.projectId}", "role": "roles/eventarc.eventReceiver",
                               "member": "serviceAccount:${triggerAccount.email}"}}), "do not need it"),
        # 9: pinned secret version
        "secret read at latest": (
            lambda p: container(p)["envs"][3]["valueSource"]["secretKeyRef"].__setitem__("version", "latest"),
            "pinned version"),
        # 10: dead letters
        "no dead-letter topic on the trigger's subscription": (
            lambda p: resource(p, "ingestSubscriptionPolicy")["environment"].pop("DEAD_LETTER_TOPIC"),
            "--dead-letter-topic"),
        "dead-letter topic nobody keeps": (
            lambda p: drop(p, "deadLetterHold", "${deadLetterHold}"), "drops them"),
        "Pub/Sub agent cannot publish dead letters": (
            lambda p: drop(p, "deadLetterPublisher", "${deadLetterPublisher}"), "roles/pubsub.publisher"),
        "ack deadline shorter than ingest's timeout": (
            lambda p: resource(p, "ingestSubscriptionPolicy")["environment"].__setitem__(
                "ACK_DEADLINE_SECONDS", "30"), "at least the target's timeout"),
        # 11: provider versions
        "provider version not pinned": (
            lambda p: p["resources"]["topic"]["options"].pop("version"), "options.version"),
        # 12: images
        "image without the git revision": (
            lambda p: resource(p, "ingestImage")["tags"].pop(0), "git revision"),
        "image without a build cache": (
            lambda p: resource(p, "readImage").pop("cacheTo"), "cacheTo"),
        "image built by the default docker driver": (
            lambda p: resource(p, "ingestImage").pop("builder"), "docker-container"),
        "registry without a cleanup policy": (
            lambda p: resource(p, "registry").pop("cleanupPolicies"), "cleanupPolicies"),
        # issue 12: bookkeeping and alerts
        "delivery keys pruned before Pub/Sub stops redelivering": (
            lambda p: container(p)["envs"][-1].__setitem__("value", "7"), "must exceed the subscription's"),
        "dead-letter metric matching a line ingest never logs": (
            lambda p: resource(p, "deadLetterMetric").__setitem__(
                "filter", resource(p, "deadLetterMetric")["filter"].replace("discarded a message", "dropped a message")),
            "the metric would count nothing"),
        "dead-letter metric counting every severity": (
            lambda p: resource(p, "deadLetterMetric").__setitem__(
                "filter", resource(p, "deadLetterMetric")["filter"].replace("AND severity=ERROR", "")),
            "severity=ERROR"),
        "no alert on the dead-letter line": (
            lambda p: resource(p, "deadLetterAlert")["conditions"][0]["conditionMatchedLog"].__setitem__(
                "filter", 'severity=ERROR'), "a dead letter must alert at once"),
        # issue 20, 3: the metric is not there yet when its alert is made
        "dead-letter alert on the log-based metric made the same run": (
            lambda p: resource(p, "deadLetterAlert").__setitem__("conditions", [{
                "displayName": "dead letters kept", "conditionThreshold": {
                    "filter": 'metric.type="logging.googleapis.com/user/${deadLetterMetric.name}" '
                              'AND resource.type="cloud_run_revision"',
                    "comparison": "COMPARISON_GT", "thresholdValue": 0, "duration": "0s"}}]),
            "Cannot find metric(s)"),
        "log-match alert without a rate limit": (
            lambda p: resource(p, "deadLetterAlert")["alertStrategy"].pop("notificationRateLimit"),
            "notificationRateLimit"),
        # issue 20, 1 and 9: previews build nothing
        "image built on preview": (
            lambda p: resource(p, "ingestImage").pop("buildOnPreview"), "buildOnPreview must be false"),
        # issue 20, 7: connections under rollouts
        "instance cap on the revision": (
            lambda p: p["resources"]["readService"]["properties"]["template"].__setitem__(
                "scaling", resource(p, "readService").pop("scaling")), "caps one revision"),
        "connections over the tier": (
            lambda p: p["config"]["ingestMaxInstances"].__setitem__("default", 6), "allows 25 less 3 reserved"),
        "a tier whose connections are unknown": (
            lambda p: p["config"]["dbTier"].__setitem__("default", "db-n1-standard-1"), "not a tier"),
        # issue 20, 8: destroy keeps Google's grant
        "destroy takes the Eventarc agent's role": (
            lambda p: p["resources"]["eventarcAgentRole"]["options"].pop("retainOnDelete"), "retainOnDelete"),
        # issue 20, 10: the channel's create runs again on every change
        "channel made again on every update": (
            lambda p: resource(p, "alertEmailChannel").__setitem__(
                "create", resource(p, "alertEmailChannel")["create"].replace("channels list", "channels describe")),
            "leave another channel behind"),
        "channel replaced create-before-delete": (
            lambda p: p["resources"]["alertEmailChannel"]["options"].pop("deleteBeforeReplace"),
            "deleteBeforeReplace"),
        # issue 20, 5: least privilege inside PostgreSQL
        "read logs in as the owner": (
            lambda p: read_env(p, "PGUSER").__setitem__("value", "${databaseUser}"),
            "the read function's role can write"),
        "ingest logs in as read's role": (
            lambda p: container(p)["envs"][1].__setitem__("value", "pipeline_read"), "PGUSER must be pipeline_ingest"),
        "read reads the owner's password": (
            lambda p: slot_options(read_env(p, "PGPASSWORD")["valueSource"]["secretKeyRef"])[0].update(
                secret="${dbPasswordSecret.secretId}", version="${dbPasswordVersion.version}"),
            "reads the owner's password"),
        "read's account may read the owner's password": (
            lambda p: resource(p, "readSecretAccess").__setitem__("secretId", "${dbPasswordSecret.id}"),
            "lets readService's account read the owner's password"),
        # issue 30, 9: two logins per function, the active one chosen by dbLoginSlot
        "a service whose PGUSER slot and password slot differ": (
            lambda p: slot_options(read_env(p, "PGPASSWORD")["valueSource"]["secretKeyRef"]).reverse(),
            "resources.readService: logs in as pipeline_read with the password of readDbPasswordBSecret"),
        "a password no slot setting chooses": (
            lambda p: env_of(p, "ingestService", "PGPASSWORD")["valueSource"].__setitem__(
                "secretKeyRef", slot_options(env_of(p, "ingestService", "PGPASSWORD")["valueSource"]["secretKeyRef"])[0]),
            "with dbLoginSlot 1: resources.ingestService: logs in as pipeline_ingest_b with the password of "
            "ingestDbPasswordSecret"),
        "a slot's secret read at the other slot's version": (
            lambda p: slot_options(read_env(p, "PGPASSWORD")["valueSource"]["secretKeyRef"])[1].__setitem__(
                "version", "${readDbPasswordVersion.version}"),
            "reads readDbPasswordBSecret at a version of readDbPasswordSecret"),
        "a PGUSER slot that is no login of the function": (
            lambda p: slot_options(read_env(p, "PGUSER")["value"]).__setitem__(1, "pipeline_reader"),
            "with dbLoginSlot 1: resources.readService: PGUSER must be pipeline_read or pipeline_read_b"),
        "read's account may read ingest's slot B password": (
            lambda p: resource(p, "readSecretAccessB").__setitem__("secretId", "${ingestDbPasswordBSecret.id}"),
            "lets readService's account read ingestDbPasswordBSecret, which holds no password of pipeline_read"),
        "read's account may not read its slot B password": (
            lambda p: drop(p, "readSecretAccessB", "${readSecretAccessB}"),
            "with dbLoginSlot 1: resources.readService: PGPASSWORD: its account may not read readDbPasswordBSecret"),
        "the migrate job sets no password for slot B": (
            lambda p: resource(p, "migrateJob")["template"]["template"]["containers"][0]["envs"].remove(
                env_of(p, "migrateJob", "PIPELINE_READ_B_PASSWORD")),
            "resources.migrateJob: sets no password for pipeline_read_b (PIPELINE_READ_B_PASSWORD"),
        "the migrate job's account may not read a slot's password": (
            lambda p: drop(p, "migrateIngestBSecretAccess", "${migrateIngestBSecretAccess}"),
            "resources.migrateJob: PIPELINE_INGEST_B_PASSWORD: its account may not read ingestDbPasswordBSecret"),
        "the login slot typed integer": (
            lambda p: p["config"]["dbLoginSlot"].__setitem__("type", "integer"),
            "config.dbLoginSlot: must be declared type: number"),
        "a stack whose login slot is out of range": (
            stack_setting("dbLoginSlot", 2), "example-stack.yaml: dbLoginSlot 2 must be a whole number from 0 to 1"),
        "a service that does not wait for the migrations": (
            lambda p: p["resources"]["readService"]["options"]["dependsOn"].remove("${migrateRun}"),
            "must wait for the migrations"),
        "no migrate job": (
            lambda p: drop(p, "migrateJob"), "no gcp:cloudrunv2:Job runs the migrate binary"),
        # issue 20, 15
        "a dashboard without the database's connections": (
            lambda p: resource(p, "dashboard")["dashboardJson"]["fn::toJSON"]["mosaicLayout"]["tiles"].pop(7),
            "must chart database connections"),
        # issue 20, 13 and 14
        "database deletable through the API": (
            lambda p: resource(p, "pipeline-db")["settings"].pop("deletionProtectionEnabled"),
            "deletionProtectionEnabled"),
        "no maintenance window": (
            lambda p: resource(p, "pipeline-db")["settings"].pop("maintenanceWindow"), "maintenanceWindow"),
        "build cache in the image's package": (
            lambda p: resource(p, "readImage")["cacheTo"][0]["registry"].__setitem__(
                "ref", "${imageBase}/read:buildcache"), "a package of its own"),
        "cleanup counting the cache as a deploy": (
            lambda p: resource(p, "registry")["cleanupPolicies"][0]["mostRecentVersions"].pop("packageNamePrefixes"),
            "packageNamePrefixes"),
        "5xx alert on the wrong service": (
            lambda p: resource(p, "ingestRetriesAlert")["conditions"][0]["conditionThreshold"].__setitem__(
                "filter", resource(p, "ingestRetriesAlert")["conditions"][0]["conditionThreshold"]["filter"]
                .replace("ingestService", "readService")), "5xx rate"),
        "no disk alert": (
            lambda p: resource(p, "databaseDiskAlert")["conditions"][0]["conditionPrometheusQueryLanguage"].__setitem__(
                "query", "max(cloudsql_googleapis_com:database_cpu_utilization) > 0.9"), "watches its disk bytes"),
        # issue 30, 7: alerts that can fire
        "no limit on the disk's growth": (
            lambda p: resource(p, "pipeline-db")["settings"].pop("diskAutoresizeLimit"), "diskAutoresizeLimit"),
        "disk alert on the utilization autoresize keeps low": (
            lambda p: resource(p, "databaseDiskAlert").__setitem__("conditions", [{
                "displayName": "disk above 80%", "conditionThreshold": {
                    "filter": 'metric.type="cloudsql.googleapis.com/database/disk/utilization" AND '
                              'resource.labels.database_id="${projectInfo.projectId}:${pipeline-db.name}"',
                    "comparison": "COMPARISON_GT", "thresholdValue": 0.8, "duration": "600s"}}]), "cannot fire"),
        "disk alert against a fixed size, not the limit": (
            lambda p: resource(p, "databaseDiskAlert")["conditions"][0]["conditionPrometheusQueryLanguage"].__setitem__(
                "query", resource(p, "databaseDiskAlert")["conditions"][0]["conditionPrometheusQueryLanguage"][
                    "query"].replace("${dbDiskLimitGb}", "50")), "compared with ${dbDiskLimitGb}"),
        "no alert on the trigger's backlog": (
            lambda p: resource(p, "deliveryBacklogAlert")["conditions"][0]["conditionThreshold"].__setitem__(
                "filter", resource(p, "deliveryBacklogAlert")["conditions"][0]["conditionThreshold"]["filter"]
                .replace("${ingestSubscriptionPolicy.stdout}", "${deadLetterHold.name}")), "oldest unacknowledged"),
        "the subscription policy does not say the subscription's id": (
            lambda p: resource(p, "ingestSubscriptionPolicy").__setitem__(
                "create", resource(p, "ingestSubscriptionPolicy")["create"].split(" && printf")[0]),
            "printing the subscription's id"),
        "no alert on the dead-letter hold": (
            lambda p: resource(p, "deadLetterHoldAlert")["conditions"][0]["conditionThreshold"].__setitem__(
                "thresholdValue", 10), "any message waiting in this dead-letter hold"),
        "no alert on read's 5xx": (
            lambda p: resource(p, "readErrorsAlert")["conditions"][0]["conditionThreshold"].__setitem__(
                "filter", resource(p, "readErrorsAlert")["conditions"][0]["conditionThreshold"]["filter"]
                .replace("readService", "ingestService")), "readService's 5xx rate"),
        "alert email required": (
            lambda p: p["config"]["alertEmail"].pop("default"), "config.alertEmail"),
        "channel made even without an address": (
            lambda p: resource(p, "alertEmailChannel").__setitem__(
                "create", resource(p, "alertEmailChannel")["create"].replace('[ -n "$ALERT_EMAIL" ] || exit 0', "")),
            "do nothing when alertEmail is unset"),
        "a policy the channel is not added to": (
            lambda p: resource(p, "alertEmailChannel")["environment"].__setitem__(
                "POLICIES", "${deadLetterAlert.name} ${ingestRetriesAlert.name}"), "must name databaseDiskAlert"),
        "a policy that takes the channel away again": (
            lambda p: p["resources"]["deadLetterAlert"]["options"].pop("ignoreChanges"), "ignoreChanges"),
        # issue 30, 10: a bad deploy must not go green
        "read without a startup probe": (
            lambda p: resource(p, "readService")["template"]["containers"][0].pop("startupProbe"),
            "HTTP startup probe on /data"),
        "a startup probe that never reaches the database": (
            lambda p: resource(p, "readService")["template"]["containers"][0]["startupProbe"]["httpGet"].__setitem__(
                "path", "/"), "the route that reaches the database"),
        "a migrate job that logs text": (
            lambda p: resource(p, "migrateJob")["template"]["template"]["containers"][0]["envs"].pop(),
            "LOG_FORMAT=json"),
        "migrations not run again on a new instance": (
            lambda p: resource(p, "migrateRun")["triggers"].remove("${pipeline-db.connectionName}"),
            "a replaced instance starts empty"),
        "no uptime check on read": (
            lambda p: drop(p, "readUptimeCheck", "${readUptimeCheck}"), "no gcp:monitoring:UptimeCheckConfig"),
        "an uptime check without an identity token": (
            lambda p: resource(p, "readUptimeCheck")["httpCheck"].pop("serviceAgentAuthentication"), "OIDC_TOKEN"),
        "an uptime check made before its agent may invoke read": (
            lambda p: p["resources"]["readUptimeCheck"]["options"].pop("dependsOn"), "or its first checks fail"),
        "a grant to Monitoring's agent before the agent exists": (
            lambda p: p["resources"]["uptimeInvokesRead"]["options"].pop("dependsOn"), "the agent does not exist"),
        "an uptime check nobody hears about": (
            lambda p: resource(p, "readUptimeAlert")["conditions"][0]["conditionThreshold"].__setitem__(
                "filter", 'metric.type="monitoring.googleapis.com/uptime_check/check_passed"'), "alerts when it fails"),
        # issue 30, 8: request logs
        "ingest's request logs all kept": (
            lambda p: drop(p, "ingestRequestLogExclusion"), "leaves ingestService's 2xx request logs out"),
        "an exclusion that hides ingest's failures too": (
            lambda p: resource(p, "ingestRequestLogExclusion").__setitem__(
                "filter", resource(p, "ingestRequestLogExclusion")["filter"].replace(
                    "AND httpRequest.status>=200 AND httpRequest.status<300", "")), "would hide the failures"),
        "an exclusion whose name Cloud Logging refuses": (
            lambda p: resource(p, "ingestRequestLogExclusion").__setitem__("name", "-ingest 2xx"),
            "not a valid gcp:logging:ProjectExclusion name"),
    }
    def example_with_real_looking_project(_):
        for path, stack in stacks:
            if Path(path).name == EXAMPLE_STACK:
                stack["config"]["gcp:project"] = "my-gcp-project"

    cases["example stack with a real-looking project id"] = (example_with_real_looking_project, "could be a real")

    def context_change(old, new):
        def change(_):
            for location, (dockerignore, dockerfile, tracked) in list(contexts.items()):
                contexts[location] = (dockerignore.replace(old, new), dockerfile.replace(old, new), tracked)
        return change

    # issue 20, 4: the build context
    deny_list = "target\n.state\n.venv\n.git\npulumi\n"
    cases["a deny-list context that admits CI's credential file"] = (
        lambda _: contexts.update({k: (deny_list, f, t) for k, (_, f, t) in contexts.items()}),
        "admits gha-creds-0123456789abcdef.json")
    cases["an allow-list that lets every JSON file in"] = (
        context_change("**/gha-creds-*.json", "!*.json"), "admits gha-creds-0123456789abcdef.json")
    cases["an allow-list without a folder the build compiles"] = (
        context_change("!functions/\n", ""), "the build needs functions/")
    cases["a Dockerfile that copies what the context leaves out"] = (
        context_change("COPY scripts/lib/with-static-openssl", "COPY scripts/lib/common.sh"),
        "'scripts/lib/common.sh', which .dockerignore leaves out")
    # CI's deployer may neither enable APIs nor create accounts: the owner's setup does both.
    cases["an API the owner's setup does not enable"] = (
        lambda p: p["resources"].__setitem__("computeApi", {
            "type": "gcp:projects:Service", "properties": {"service": "compute.googleapis.com"},
            "options": {"version": "10.2.0"}}), "does not enable compute.googleapis.com")
    cases["an account the owner's setup does not create"] = (
        lambda p: p["resources"].__setitem__("extraAccount", {
            "type": "gcp:serviceaccount:Account",
            "properties": {"accountId": "pipeline-extra", "createIgnoreAlreadyExists": True},
            "options": {"version": "10.2.0"}}), "does not create pipeline-extra")
    cases["an account the owner makes under another display name"] = (
        lambda p: resource(p, "readAccount").__setitem__("displayName", "the read function"),
        "must create pipeline-read with --display-name 'the read function'")
    cases["an account the program cannot adopt"] = (
        lambda p: resource(p, "readAccount").pop("createIgnoreAlreadyExists"), "createIgnoreAlreadyExists")

    # issue 30, 4: private IP, the second shape of dbConnectivity
    def options(p, variable):
        return p["variables"][variable]["fn::select"][1]

    def private_stack(value):
        def change(_):
            for path, stack in stacks:
                if Path(path).name == EXAMPLE_STACKS[1]:
                    stack["config"]["rust-pubsub-pipeline:dbConnectivity"] = value
        return change

    cases.update({
        "the private shape keeps its public IP": (
            lambda p: options(p, "dbIpConfiguration")[1].__setitem__("ipv4Enabled", True),
            "with dbConnectivity 1: resources.pipeline-db.settings.ipConfiguration: a private network and still "
            "ipv4Enabled"),
        "a public IP in every shape": (
            lambda p: options(p, "dbIpConfiguration").__setitem__(1, dict(options(p, "dbIpConfiguration")[0])),
            "no shape gives the database a private IP only"),
        "a private network named without its path": (
            lambda p: options(p, "dbIpConfiguration")[1].__setitem__("privateNetwork", "${privateNetwork}"),
            "must be the network's path"),
        "authorized networks on the public IP": (
            lambda p: options(p, "dbIpConfiguration")[0].__setitem__("authorizedNetworks", [{"value": "0.0.0.0/0"}]),
            "authorizedNetworks open the database"),
        "a service without VPC egress in the private shape": (
            lambda p: resource(p, "readService")["template"].pop("vpcAccess"),
            "with dbConnectivity 1: resources.readService: the database has only a private IP"),
        "the migrate job without VPC egress in the private shape": (
            lambda p: resource(p, "migrateJob")["template"]["template"].pop("vpcAccess"),
            "with dbConnectivity 1: resources.migrateJob: the database has only a private IP"),
        "all traffic into the network": (
            lambda p: options(p, "runVpcAccess")[1].__setitem__("egress", "ALL_TRAFFIC"),
            "egress must be PRIVATE_RANGES_ONLY"),
        "a Serverless VPC Access connector": (
            lambda p: options(p, "runVpcAccess").__setitem__(1, {
                "connector": "projects/p/locations/us-central1/connectors/c", "egress": "PRIVATE_RANGES_ONLY"}),
            "billed around the clock"),
        "egress into another network than the instance's": (
            lambda p: options(p, "runVpcAccess")[1]["networkInterfaces"][0].__setitem__("network", "default"),
            "must name the instance's network"),
        "VPC egress in the public shape": (
            lambda p: options(p, "runVpcAccess").__setitem__(0, copy.deepcopy(options(p, "runVpcAccess")[1])),
            "template.vpcAccess where the database has a public IP"),
        "the shape index typed integer": (
            lambda p: p["config"]["dbConnectivity"].__setitem__("type", "integer"), "must be declared type: number"),
        "a shape index that is no setting": (
            lambda p: p["variables"]["runVpcAccess"]["fn::select"].__setitem__(0, 1), "must be ${<config key>}"),
        "selections offering different numbers of shapes": (
            lambda p: options(p, "runVpcAccess").append(None), "as many shapes as the others"),
        "a default shape that does not exist": (
            lambda p: p["config"]["dbConnectivity"].__setitem__("default", 2),
            "the program's default: dbConnectivity 2 must be a whole number from 0 to 1"),
        "a stack that names its shape in words": (
            private_stack("private"), "example-private-stack.yaml: dbConnectivity 'private' must be a whole number"),
        "a stack whose shape is out of range": (
            private_stack("2"), "example-private-stack.yaml: dbConnectivity '2' must be a whole number"),
        "an example private stack with a real-looking project id": (
            lambda _: [stack["config"].__setitem__("gcp:project", "my-gcp-project")
                       for path, stack in stacks if Path(path).name == EXAMPLE_STACKS[1]], "could be a real"),
    })
    return cases


def broken_networks():
    """name -> (a change to a copy of the network program, words its error must hold)."""

    def resource(p, name):
        return p["resources"][name]["properties"]

    return {
        "an API the owner's commands do not enable": (
            lambda p: p["resources"].__setitem__("dnsApi", {
                "type": "gcp:projects:Service", "properties": {"service": "dns.googleapis.com"},
                "options": {"version": "10.2.0"}}), "does not enable dns.googleapis.com"),
        "a peering that destroy cannot delete": (
            lambda p: resource(p, "sqlPeering").pop("deletionPolicy"), "deletionPolicy must be ABANDON"),
        "a peering on no range": (
            lambda p: resource(p, "sqlPeering").__setitem__("reservedPeeringRanges", ["other-range"]),
            "must name the VPC_PEERING range"),
        "an auto-mode network": (
            lambda p: resource(p, "network").__setitem__("autoCreateSubnetworks", True),
            "autoCreateSubnetworks must be false"),
        "a subnet too small for Direct VPC egress": (
            lambda p: p["config"]["subnetRange"].__setitem__("default", "10.8.0.0/28"), "must be a /26 or larger"),
        "a network the main program does not look for": (
            lambda p: resource(p, "network").__setitem__("name", "vpc"), "privateNetwork defaults to"),
        "a subnet the main program does not look for": (
            lambda p: resource(p, "runSubnet").__setitem__("name", "run"), "privateSubnet defaults to"),
        "a subnet in another region than the main program's": (
            lambda p: p["config"]["region"].__setitem__("default", "europe-west1"), "region defaults to"),
        "a range not for peering": (
            lambda p: resource(p, "sqlRange").__setitem__("purpose", "GCE_ENDPOINT"),
            "private services access needs a range"),
        "a range too small for Cloud SQL": (
            lambda p: p["config"]["sqlRangePrefixLength"].__setitem__("default", 28), "Cloud SQL needs a /24"),
        "no peering": (
            lambda p: p["resources"].pop("sqlPeering"), "no gcp:servicenetworking:Connection"),
        "a misspelt property": (
            lambda p: resource(p, "runSubnet").__setitem__("ipCidrRang", resource(p, "runSubnet").pop("ipCidrRange")),
            "ipCidrRang"),
        "a network name Compute Engine refuses": (
            lambda p: resource(p, "network").__setitem__("name", "Pipeline_Network"),
            "not a valid gcp:compute:Network name"),
        "a provider version not pinned": (
            lambda p: p["resources"]["sqlRange"]["options"].pop("version"), "options.version"),
    }


class PulumiProgram(unittest.TestCase):
    def setUp(self):
        self.program, self.stacks, self.contexts = load(ROOT / "pulumi")
        self.network = load_network(ROOT / "pulumi")

    def test_the_program_and_its_stacks_pass(self):
        self.assertEqual(check(self.program, self.stacks, self.contexts), [])

    def test_both_shapes_are_checked(self):
        """The example stacks choose one shape each, and the program offers both."""
        chosen = {Path(p).name: (s["config"] or {}).get("rust-pubsub-pipeline:dbConnectivity", 0)
                  for p, s in self.stacks}
        self.assertEqual((chosen[EXAMPLE_STACKS[0]], chosen[EXAMPLE_STACKS[1]]), (0, 1))

    def test_the_network_program_passes(self):
        self.assertIsNotNone(self.network)
        self.assertEqual(check_network(self.network, self.program), [])

    def test_each_broken_network_fails_saying_why(self):
        for name, (change, expected) in broken_networks().items():
            with self.subTest(name):
                network = copy.deepcopy(self.network)
                change(network)
                errors = check_network(network, self.program)
                self.assertTrue(any(expected in e for e in errors), errors)

    def test_each_broken_copy_fails_saying_why(self):
        stacks, contexts = self.stacks, self.contexts
        cases = broken_copies(self.program, stacks, contexts)
        self.assertGreater(len(cases), 60)
        for name, (change, expected) in cases.items():
            with self.subTest(name):
                saved_stacks, saved_contexts = copy.deepcopy(stacks), dict(contexts)
                program = copy.deepcopy(self.program)
                change(program)
                errors = check(program, stacks, contexts)
                stacks[:] = saved_stacks
                contexts.clear()
                contexts.update(saved_contexts)
                self.assertTrue(any(expected in e for e in errors), errors)


if __name__ == "__main__":
    unittest.main()
