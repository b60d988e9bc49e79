package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/blandsim"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// Two tenants, two Bland accounts. Account A's organization allows one call
// a second and A has twenty personas to serve, so its calls meet 429 after
// 429 and its pace falls to the floor. Meanwhile tenant B applies ten
// bindings: B's calls keep B's own pace, the configured one, for as long as
// A is throttled, and B's bindings go Ready while A is still working.
func TestOneAccountsThrottlingNeverSlowsAnothers(t *testing.T) {
	a, b := newFixture(t, 20), newFixture(t, 10)
	sim.SetOrgRateLimit(a.account, 1)
	defer sim.SetOrgRateLimit(a.account, 0)
	for i, n := range a.numbers {
		id := fmt.Sprintf("%s-%d", a.personaID, i)
		sim.AddPersona(a.apiKey, id, "Persona "+id)
		pb := a.binding(fmt.Sprintf("busy-%d", i), n)
		pb.Spec.PersonaID = id
		a.create(pb)
	}
	client := reconciler.Bland.(*answerless).Client
	limited := func() int {
		return len(sim.Calls(func(c blandsim.Call) bool { return c.Account == a.account && c.Status == http.StatusTooManyRequests }))
	}
	a.g.Eventually(limited).WithTimeout(30*time.Second).Should(BeNumerically(">=", 3), "account A met no rate limit")
	a.g.Expect(client.Pace(a.apiKey)).To(BeNumerically("<", 50), "A's pace did not slow down")

	var pbs []*v1alpha1.PersonaBinding
	for i, n := range b.numbers {
		pbs = append(pbs, b.create(b.binding(fmt.Sprintf("line-%d", i), n)))
	}
	for _, pb := range pbs {
		// Checked while it waits, not only at the end: B's pace is its own.
		b.g.Eventually(func(g Gomega) {
			g.Expect(client.Pace(b.apiKey)).To(BeEquivalentTo(50), "B's pace moved with A's 429s")
			cur := b.get(pb)
			g.Expect(cur.Status.Summary).To(Equal("1/1"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}
	b.g.Expect(sim.Attached(b.personaID)).To(HaveLen(len(b.numbers)))
	for _, c := range sim.Calls(func(c blandsim.Call) bool { return c.Account == b.account }) {
		b.g.Expect(c.Status).NotTo(Equal(http.StatusTooManyRequests), "B's account was never limited")
	}
	// Seen per account, by the Secret's name, never the key.
	aName, bName := a.ns+"/bland", b.ns+"/bland"
	b.g.Expect(testutil.ToFloat64(metrics.AccountCalls.WithLabelValues(aName, "rate_limited"))).To(BeNumerically(">", 0))
	b.g.Expect(testutil.ToFloat64(metrics.AccountCalls.WithLabelValues(bName, "rate_limited"))).To(BeZero())
	b.g.Expect(testutil.ToFloat64(metrics.AccountCalls.WithLabelValues(bName, "success"))).To(BeNumerically(">", 0))
	b.g.Expect(testutil.ToFloat64(metrics.AccountPace.WithLabelValues(bName))).To(BeEquivalentTo(1))
	b.g.Expect(testutil.ToFloat64(metrics.AccountPace.WithLabelValues(aName))).To(BeNumerically("<", 1))
	t.Logf("REPORT while account A met %d 429s (its pace %.2f calls/s), B's 10 bindings were attached at B's pace %.0f", limited(), client.Pace(a.apiKey), client.Pace(b.apiKey))
}

// A binding whose key cannot read the persona (refused, or another
// organization's) never shows the persona's name, though a neighbour's
// key read it in the same pass: the PERSONA column would otherwise tell a
// tenant the name of another account's persona from its ID.
func TestAPersonasNameComesOnlyFromTheBindingsOwnKey(t *testing.T) {
	f := newFixture(t, 2)
	other := newFixture(t, 0) // another organization, with a key of its own
	f.secret("foreign", other.apiKey)
	f.secret("refused", "sk-refused-"+f.ns)
	good := f.create(f.binding("a-good", f.numbers[0]))
	f.waitFor(good, v1alpha1.ReasonSynced)
	name := "Persona " + f.personaID
	f.g.Expect(f.get(good).Status.PersonaName).To(Equal(name))

	foreign := f.binding("b-foreign", f.numbers[1])
	foreign.Spec.CredentialsRef.Name = "foreign"
	refused := f.binding("c-refused")
	refused.Spec.CredentialsRef.Name = "refused"
	f.create(foreign)
	f.create(refused)
	f.waitFor(foreign, v1alpha1.ReasonPersonaNotFound)
	f.requestResync(good) // a read with the good key, in a pass of all three
	for _, pb := range []*v1alpha1.PersonaBinding{foreign, refused} {
		f.g.Consistently(func(g Gomega) {
			g.Expect(f.get(pb).Status.PersonaName).NotTo(Equal(name), "%s shows the name its key never read", pb.Name)
		}).WithTimeout(2 * time.Second).Should(Succeed())
	}
	f.g.Expect(f.get(good).Status.PersonaName).To(Equal(name))
}

// A tenant whose binding loses a number to an older binding of another
// namespace is told the number is taken, not by whom: its Ready message and
// its Warning event say "a PersonaBinding in another namespace", and never
// name that namespace or binding. (--name-other-namespaces names them, for
// a single-team cluster.)
func TestAConflictWithAnotherNamespaceNamesNoOne(t *testing.T) {
	owner, tenant := newFixture(t, 1), newFixture(t, 0)
	shared := owner.numbers[0]
	older := owner.create(owner.binding("private-line", shared))
	owner.waitFor(older, v1alpha1.ReasonSynced)

	tenant.secret("same-org", owner.apiKey)
	newer := tenant.binding("wants-it", shared)
	newer.Spec.PersonaID = owner.personaID
	newer.Spec.CredentialsRef.Name = "same-org"
	tenant.create(newer)
	got := tenant.waitFor(newer, v1alpha1.ReasonNumberConflict)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message
	tenant.g.Expect(msg).To(ContainSubstring(shared + " held by an older PersonaBinding in another namespace"))
	tenant.g.Expect(msg).NotTo(Or(ContainSubstring(owner.ns), ContainSubstring("private-line")))
	tenant.g.Eventually(func() []string { return tenant.warnings(v1alpha1.ReasonNumberConflict) }).ShouldNot(BeEmpty())
	for _, note := range tenant.warnings(v1alpha1.ReasonNumberConflict) {
		tenant.g.Expect(note).NotTo(Or(ContainSubstring(owner.ns), ContainSubstring("private-line")), "the tenant's event names the other namespace")
	}
	// The older binding's own namespace still names its own bindings.
	owner.g.Expect(sim.Attached(owner.personaID)).To(Equal([]string{shared}))
}

// kubectl get clusterblandaccounts shows each account's pace and whether it
// is throttled: an account whose organization answers 429 says so, at a
// pace below --api-qps.
func TestAThrottledAccountSaysSoInItsStatus(t *testing.T) {
	f := newFixture(t, 6)
	account, label := tenantSetup(f)
	f.labelNamespace(label)
	sim.SetOrgRateLimit(f.account, 1)
	defer sim.SetOrgRateLimit(f.account, 0)
	for i, n := range f.numbers {
		id := fmt.Sprintf("%s-%d", f.personaID, i)
		sim.AddPersona(f.apiKey, id, "Persona "+id)
		pb := f.binding(fmt.Sprintf("shared-%d", i), n)
		pb.Spec.PersonaID, pb.Spec.CredentialsRef, pb.Spec.AccountRef = id, nil, &v1alpha1.AccountRef{Name: account.Name}
		f.create(pb)
	}
	f.g.Eventually(func() int {
		return len(sim.Calls(func(c blandsim.Call) bool { return c.Account == f.account && c.Status == http.StatusTooManyRequests }))
	}).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 2))
	f.accountStatusShows(account, func(g Gomega, st v1alpha1.ClusterBlandAccountStatus) {
		g.Expect(st.Throttled).To(BeTrue())
		g.Expect(st.Pace).NotTo(BeElementOf("", "50/s"))
	})
}

// accountStatusShows pokes the account until its status, looked at again
// after the poke, passes check: an account looks again on any change to it
// (and every minute), and its pace moves meanwhile.
func (f *fixture) accountStatusShows(account *v1alpha1.ClusterBlandAccount, check func(Gomega, v1alpha1.ClusterBlandAccountStatus)) {
	f.t.Helper()
	f.g.Eventually(func(g Gomega) {
		var cur v1alpha1.ClusterBlandAccount
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(account), &cur)).To(Succeed())
		metav1.SetMetaDataAnnotation(&cur.ObjectMeta, "test/poke", time.Now().String())
		g.Expect(k8s.Update(context.Background(), &cur)).To(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(account), &cur)).To(Succeed())
			check(g, cur.Status)
		}).WithTimeout(3 * time.Second).Should(Succeed())
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// A ClusterBlandAccount's spec.rateLimit is its own bucket: its calls never
// go faster than its rate, checked over every second of the run while its
// bindings attach, and its status shows that rate as its pace.
func TestAnAccountsRateLimitIsItsOwnBucket(t *testing.T) {
	f := newFixture(t, 6)
	account, label := tenantSetup(f)
	base := account.DeepCopy()
	account.Spec.RateLimit = &v1alpha1.AccountRateLimit{QPS: 1, Burst: 1}
	f.g.Expect(k8s.Patch(context.Background(), account, client.MergeFrom(base))).To(Succeed())
	f.labelNamespace(label)
	started := time.Now()
	for i, n := range f.numbers {
		id := fmt.Sprintf("%s-%d", f.personaID, i)
		sim.AddPersona(f.apiKey, id, "Persona "+id)
		pb := f.binding(fmt.Sprintf("paced-%d", i), n)
		pb.Spec.PersonaID, pb.Spec.CredentialsRef, pb.Spec.AccountRef = id, nil, &v1alpha1.AccountRef{Name: account.Name}
		f.create(pb)
	}
	mostInASecond := func() int {
		return blandsim.MostInASecond(sim.Calls(func(c blandsim.Call) bool { return c.Account == f.account && !c.Time.Before(started) }))
	}
	// A bucket of 1 a second, burst 1, lets at most 2 calls into any second
	// (the suite's own rate is 50).
	f.g.Eventually(func(g Gomega) {
		if most := mostInASecond(); most > 2 {
			StopTrying(fmt.Sprintf("%d calls of the account in one second, want at most 2", most)).Now()
		}
		for i := range f.numbers {
			var pb v1alpha1.PersonaBinding
			g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: fmt.Sprintf("paced-%d", i)}, &pb)).To(Succeed())
			g.Expect(readyReasonOf(&pb)).To(Equal(v1alpha1.ReasonSynced), "binding %s", pb.Name)
		}
	}).WithTimeout(60 * time.Second).Should(Succeed())
	f.g.Expect(mostInASecond()).To(BeNumerically("<=", 2), "calls in one second")
	f.accountStatusShows(account, func(g Gomega, st v1alpha1.ClusterBlandAccountStatus) {
		g.Expect(st.Pace).To(Equal("1/s"))
	})
}
