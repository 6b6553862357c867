//! A MAAR with several CMD instances: it sends to the one that last answered; once an update
//! goes unanswered it sends to every instance, until one answers, which it then keeps to.

use super::tests::{CMD, M1, MN, accept, config, pbu_of, start};
use super::*;

const CMD2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
const CMD3: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 3);

fn destinations(out: &[Outgoing]) -> Vec<Ipv6Addr> {
    out.iter().map(|o| o.to).collect()
}

#[test]
fn the_instance_that_answers_is_the_one_sent_to_and_silence_sends_to_all() {
    let mut listed = config("2001:db8:a1::/48");
    listed.cmd = vec![CMD, CMD2, CMD3];
    let mut m = MaarEngine::new(&listed, M1, vec!["acc".to_owned()]);
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());

    // The first PBU goes to the first instance.
    m.attach(now, MN, "acc", &mut out).unwrap();
    m.route(&mut out);
    assert_eq!(destinations(&out), vec![CMD]);
    let first = pbu_of(&out[0]).clone();
    out.clear();

    // Unanswered: the retransmission goes to every instance, the first listed first.
    m.poll(now.plus(Duration::from_secs(1)), &mut out, &mut actions);
    m.route(&mut out);
    assert_eq!(destinations(&out), vec![CMD, CMD2, CMD3]);
    let resent = pbu_of(&out[0]).clone();
    assert_eq!(resent.sequence, first.sequence);
    assert!(out.iter().all(|o| pbu_of(o) == &resent), "{out:?}");
    out.clear();

    // The second instance answers: the binding is made, and from now on it alone is sent to.
    m.handle(
        now.plus(Duration::from_millis(1100)),
        CMD2,
        accept(&resent, 10, Vec::new()),
        &mut out,
        &mut actions,
    );
    assert_eq!(m.active_cmd(), CMD2);
    assert_eq!(
        m.served(&MN).map(|s| s.phase),
        Some(Phase::Registered),
        "the PBA of another instance registers the node"
    );
    m.route(&mut out);
    assert!(out.is_empty(), "{out:?}");
    m.detach(now.plus(Duration::from_secs(2)), &MN, &mut out)
        .unwrap();
    m.route(&mut out);
    assert_eq!(destinations(&out), vec![CMD2]);
    assert_eq!(m.counters().retransmissions, 1);
}

#[test]
fn one_cmd_address_is_sent_to_alone_even_when_silent() {
    let mut m = MaarEngine::new(&config("2001:db8:a1::/48"), M1, vec!["acc".to_owned()]);
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m.attach(now, MN, "acc", &mut out).unwrap();
    out.clear();
    m.poll(now.plus(Duration::from_secs(1)), &mut out, &mut actions);
    m.route(&mut out);
    assert_eq!(destinations(&out), vec![CMD]);
}
