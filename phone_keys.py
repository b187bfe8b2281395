import re, collections
import synthetic_identity as si
tab, truth = si.generate_crm_with_identity(100000, 0)
leads, pairs = si.generate_reentries(truth, 3000, 0)
cust = {int(c): i for i, c in enumerate(truth.customer_id)}
L = {r['lead_id']: r for r in leads.to_pylist()}
def key(raw, n):
    d = re.sub(r"\D", "", re.sub(r"(?:ext\.?|x)\s*\d+\s*$", "", raw or ""))
    return d[-n:] if len(d) >= n else None
agree = collections.Counter(); tot = 0; done=set()
for p in pairs.to_pylist():
    if p['kind'] != 'phone_format' or p['lead_id'] in done: continue
    done.add(p['lead_id']); tot += 1
    a = L[p['lead_id']]['phone']; b = truth.phone_str[cust[p['customer_id']]]
    for n in (7, 8, 9, 10):
        agree[n] += key(a, n) is not None and key(a, n) == key(b, n)
print({f"last-{n}": round(agree[n]/tot, 4) for n in agree}, tot)
