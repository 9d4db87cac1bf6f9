"""Validates the FHIR export of the real service with an independent FHIR library.

Drives a running `karada serve` over HTTP: an operator (created beforehand with
`karada admin create-user`) sets up an organisation; a resident joins it, gives a consent and
uploads one measurement of every catalogue type; the resident's `GET /v1/me/export?format=fhir`
is then parsed with `fhir.resources` (R4B models) and checked against the catalogue served at
`/v1/measurement-types`. Any failure exits non-zero with the reason.

Usage: fhir_validate.py BASE_URL OPERATOR_EMAIL OPERATOR_PASSWORD
"""
import json
import sys
import urllib.error
import urllib.request

from fhir.resources.R4B.bundle import Bundle

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PROJECT = "https://karada.example/fhir/CodeSystem/measurement-type"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MODALITY = "https://karada.example/fhir/StructureDefinition/modality"

base, ops_email, ops_password = sys.argv[1:4]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def call(method, path, token=None, body=None, raw=False):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as r:
            payload = r.read()
            return r.status, dict(r.headers), payload if raw else (json.loads(payload) if payload else None)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path} answered {e.code}: {e.read().decode(errors='replace')}")


def sample(field):
    kind = field["kind"]
    if kind == "number":
        return round((field["min"] + field["max"]) / 2, 1)
    if kind == "integer":
        return (field["min"] + field["max"]) // 2
    if kind == "choice":
        return field["options"][0]
    if kind == "date":
        return "2026-04-01"
    if kind == "sha256":
        return "ab" * 32
    sys.exit(f"unknown field kind {kind}")


# Operator and organisation.
_, _, login = call("POST", "/v1/auth/login", body={"email": ops_email, "password": ops_password})
ops = login["access_token"]
_, _, org = call("POST", "/v1/admin/organizations", ops, {"name": "FHIR validation employer", "kind": "employer"})
call("POST", f"/v1/admin/organizations/{org['id']}/staff", ops, {"email": ops_email, "role": "org_admin"})
_, _, code = call("POST", f"/v1/orgs/{org['id']}/enrollment-codes", ops, {})

# The resident.
_, _, reg = call("POST", "/v1/auth/register", body={
    "email": "fhir-validation@example.jp", "password": "fhir validation password",
    "birth_date": "1980-04-01", "sex": "female", "display_name": "Hanako Karada"})
token = reg["access_token"]
patient_id = reg["user"]["id"]
call("POST", "/v1/me/memberships", token, {"enrollment_code": code["code"]})
_, _, catalogue = call("GET", "/v1/measurement-types")
types = {t["name"]: t for t in catalogue["types"]}
call("POST", "/v1/me/consents", token, {
    "organization_id": org["id"], "measurement_types": sorted(types), "access": "individual",
    "purpose": "Follow-up by the occupational health nurse", "include_points": True})

items = []
for i, t in enumerate(catalogue["types"]):
    values = {f["name"]: sample(f) for f in t["fields"]}
    if t["name"] == "blood_pressure":
        values = {"systolic_mmhg": 128, "diastolic_mmhg": 82}
    items.append({"type": t["name"], "effective_at": f"2026-03-{i + 1:02d}T07:30:00+09:00", "values": values,
                  "client_ref": f"fhir-{t['name']}", "note": "after breakfast"})
_, _, batch = call("POST", "/v1/measurements/batch", token, {"items": items})
if batch["created"] != len(items):
    sys.exit(f"upload failed: {batch}")

status, headers, raw = call("GET", "/v1/me/export?format=fhir", token, raw=True)
content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
if not content_type.startswith("application/fhir+json"):
    fail(f"content type {content_type!r}, expected application/fhir+json")
document = json.loads(raw)

# 1. The independent library accepts the bundle and every resource in it.
bundle = Bundle.model_validate(document)
if bundle.type != "collection":
    fail(f"Bundle.type is {bundle.type!r}, expected collection")
resources = [(e.fullUrl, e.resource) for e in bundle.entry or []]
by_type = {}
for url, r in resources:
    by_type.setdefault(r.get_resource_type(), []).append((url, r))

# 2. One Patient, which every reference resolves to.
patients = by_type.get("Patient", [])
if len(patients) != 1:
    fail(f"{len(patients)} Patient resources, expected 1")
else:
    url, patient = patients[0]
    if patient.id != patient_id or patient.gender != "female" or str(patient.birthDate) != "1980-04-01":
        fail(f"Patient does not match the account: {patient.id} {patient.gender} {patient.birthDate}")
    patient_url = url

# 3. One Observation per measurement, coded from the catalogue.
observations = [r for _, r in by_type.get("Observation", [])]
if len(observations) != len(items):
    fail(f"{len(observations)} Observations, expected {len(items)}")
seen = set()
for obs in observations:
    codings = [(c.system, c.code) for c in obs.code.coding or []]
    matching = [t for t in types.values()
                if ((LOINC, t["loinc"]) in codings if t["loinc"] else (PROJECT, t["name"]) in codings)]
    if len(matching) != 1:
        fail(f"Observation {obs.id}: code {codings} names no single catalogue type")
        continue
    t = matching[0]
    seen.add(t["name"])
    if obs.status != "final":
        fail(f"{t['name']}: status {obs.status}")
    categories = [(c.system, c.code) for cat in obs.category or [] for c in cat.coding or []]
    if (CATEGORY, t["category"]) not in categories:
        fail(f"{t['name']}: category {categories}, expected {t['category']}")
    if obs.subject is None or obs.subject.reference != patient_url:
        fail(f"{t['name']}: subject does not reference the Patient")
    if obs.effectiveDateTime is None:
        fail(f"{t['name']}: no effectiveDateTime")
    modality = [e.valueCode for e in obs.extension or [] if e.url == MODALITY]
    if modality != ["self_reported"]:
        fail(f"{t['name']}: modality extension {modality}")
    sent = next(i for i in items if i["type"] == t["name"])
    if len(t["fields"]) == 1:
        f = t["fields"][0]
        q = obs.valueQuantity
        if q is None or q.system != UCUM or q.code != f["unit"] or float(q.value) != float(sent["values"][f["name"]]):
            fail(f"{t['name']}: valueQuantity {q} does not carry {sent['values']} in {f['unit']}")
        continue
    components = {}
    for comp in obs.component or []:
        for c in comp.code.coding or []:
            components[(c.system, c.code)] = comp
    for f in t["fields"]:
        key = (LOINC, f["loinc"]) if f["loinc"] else (PROJECT, f"{t['name']}.{f['name']}")
        comp = components.get(key)
        if comp is None:
            fail(f"{t['name']}.{f['name']}: no component coded {key}")
            continue
        v = sent["values"][f["name"]]
        if f.get("unit"):
            q = comp.valueQuantity
            if q is None or q.system != UCUM or q.code != f["unit"] or float(q.value) != float(v):
                fail(f"{t['name']}.{f['name']}: valueQuantity {q}, expected {v} {f['unit']}")
        elif f["kind"] == "date":
            if str(comp.valueDateTime) != v:
                fail(f"{t['name']}.{f['name']}: valueDateTime {comp.valueDateTime}, expected {v}")
        elif comp.valueString != v:
            fail(f"{t['name']}.{f['name']}: valueString {comp.valueString}, expected {v}")
missing = set(types) - seen
if missing:
    fail(f"types missing from the export: {sorted(missing)}")

# 4. The consent.
consents = [r for _, r in by_type.get("Consent", [])]
if len(consents) != 1:
    fail(f"{len(consents)} Consent resources, expected 1")
else:
    c = consents[0]
    if c.status != "active" or c.patient.reference != patient_url or c.provision.type != "permit":
        fail(f"Consent: status {c.status}, patient {c.patient.reference}, provision {c.provision.type}")
    if len(c.provision.code or []) != len(types) + 1:
        fail(f"Consent covers {len(c.provision.code or [])} codes, expected {len(types) + 1}")

if failures:
    sys.exit(f"{len(failures)} problem(s) in the FHIR export")
print(f"FHIR export valid (fhir.resources R4B): 1 Patient, {len(observations)} Observations "
      f"covering {len(seen)} types, {len(consents)} Consent")
