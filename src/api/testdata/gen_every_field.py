# Builds one manifest per kind that sets every field of the v1 CRD spec schema.
# Run from anywhere: python3 src/api/testdata/gen_every_field.py > src/api/testdata/every-field.yaml
# (needs PyYAML and the CRDs in shared/ beside the repository).
import os, yaml
HERE = os.path.dirname(os.path.abspath(__file__))
CRDS = os.path.join(HERE, '../../../../shared/gateway-api/crds-experimental/gateway.networking.k8s.io_%s.yaml')
def sample(s, name):
    t = s.get('type')
    if 'enum' in s:
        return s['enum'][-1] if name in ('type',) and False else s['enum'][0]
    if t == 'string':
        return 'example-' + name
    if t == 'integer':
        if s.get('maximum') == 65535: return 8443
        return s.get('minimum', 7) or 7
    if t == 'boolean':
        return True
    if t == 'array':
        return [sample(s.get('items', {}), name)]
    if t == 'object':
        if 'properties' in s:
            return {k: sample(v, k) for k, v in s['properties'].items()}
        if 'additionalProperties' in s:
            return {'example.com/' + name: sample(s['additionalProperties'], 'value')}
        return {}
    raise Exception((name, s))
docs = []
for plural, kind in [('gatewayclasses','GatewayClass'),('gateways','Gateway'),('httproutes','HTTPRoute'),('referencegrants','ReferenceGrant'),('backendtlspolicies','BackendTLSPolicy')]:
    d = yaml.safe_load(open(CRDS % plural))
    v = [v for v in d['spec']['versions'] if v['name'] == 'v1'][0]
    spec = sample(v['schema']['openAPIV3Schema']['properties']['spec'], 'spec')
    meta = {'name': 'full-' + kind.lower()}
    if d['spec']['scope'] == 'Namespaced': meta['namespace'] = 'full'
    docs.append({'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': kind, 'metadata': meta, 'spec': spec})
print('# Generated from the v1.6.1 experimental CRDs: every spec field set once.')
print(yaml.safe_dump_all(docs, sort_keys=True), end='')
