#!/usr/bin/env python3
"""Deterministic synthetic sample data for Sightline.

Generates what the agencies of one local authority (Brent, DfE LA code 304) would submit to the
gateway: three school MIS exports (enrolment and attendance CSV, exclusions NDJSON), GP
registrations, police notifications, housing tenancies (CSV) and LA registers, together with a
ground truth that maps every emitted record to the synthetic child it describes, so that linkage
precision and recall can be measured. Faults are injected the way real extracts have them (name
typos, invalid check digits, records without a strong identifier, children who moved, rows the
gateway must reject); every faulty record is listed in faults.csv.

Every child, name, NHS number and UPN here is invented. NHS numbers all start with 9, the range
NHS England uses for test and synthetic patients; none is issued to a real person.

Standard library only; one random.Random(seed) drives everything and the clock is never read, so
the output is byte-identical across runs for the same arguments. (GP carers registers, the optional
`youngCarer` of a GP registration, draw from a second Random seeded from the same seed, so adding
them changed no other byte.) Rows are streamed to their files as each family is generated, so
1,000,000 children need little more memory than the sets that keep NHS numbers and UPNs unique.

    python3 ops/sample-data/generate.py                         # 2,000 children into this folder
    python3 ops/sample-data/generate.py --children 100000 --out /tmp/sightline-100k

Usable as a module too: `generate(children=..., out_dir=..., today=datetime.date(...))` returns
the statistics that MANIFEST.md reports.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import json
import os
import sys
import unicodedata
from random import Random

SEED = 20261129
DEFAULT_CHILDREN = 2000
DEFAULT_TODAY = "2026-11-20"
HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# The synthetic world
# --------------------------------------------------------------------------------------------

LA_CODE = "304"
IN_AREA_DISTRICTS = ["HA0", "HA1", "HA3", "HA8", "HA9", "NW2", "NW6", "NW9", "NW10", "W9", "W10"]
OUT_OF_AREA_DISTRICTS = ["SE1", "E8", "N17", "M1", "B12", "LS6", "HA2", "UB6", "NW3", "W3"]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# URN -> DfE establishment number (the 4 digits after the LA code) and phase.
SCHOOLS = {
    "100001": {"estab": "2001", "phase": "primary"},
    "100002": {"estab": "4002", "phase": "all-through"},
    "100003": {"estab": "4003", "phase": "secondary"},
}
PRIMARY_SCHOOLS = (("100001", 0.55), ("100002", 0.45))
SECONDARY_SCHOOLS = (("100002", 0.40), ("100003", 0.60))
# Other LAs a UPN may have been issued by (pupils who started school elsewhere).
OTHER_LA_CODES = ["202", "207", "213", "301", "307", "310", "312", "313", "316", "330", "812"]

PRACTICES = (("Y12345", 0.45), ("Y23456", 0.30), ("E84001", 0.25))

OFF_ROLL_REASONS = (("other-school", 0.35), ("moved-away", 0.25), ("ehe", 0.15), ("cme", 0.10),
                    ("other", 0.10), ("permanent-exclusion", 0.05))
OFF_ROLL_TEXT = {
    "other-school": "Moved to another school",
    "ehe": "Elective home education",
    "moved-away": "Moved away",
    "cme": "Missing education",
    "permanent-exclusion": "Permanently excluded",
    "other": "Other",
}
SEN_STATUSES = (("N", 0.82), ("K", 0.13), ("E", 0.05))          # none, support (K), EHCP (E)
EXCLUSION_CATEGORIES = (("suspension", 0.78), ("internal", 0.12), ("managed-move", 0.10))
POLICE_CATEGORIES = (("domestic-abuse", 0.50), ("concern", 0.30), ("missing-episode", 0.20))

# Rates. The "p_" values are per child, per family or per record as named; MANIFEST.md reports
# what a run actually produced.
P_OUT_OF_AREA_FAMILY = 0.068     # plus movers who left: about 8% of children live out of area
P_MOVED_FAMILY = 0.03            # school still holds the old postcode
P_MOVED_OUT = 0.40               # of movers, share whose new address is out of area
P_ON_ROLL_IN_AREA = 0.88
P_ON_ROLL_OUT_OF_AREA = 0.30
P_MID_YEAR_JOINER = 0.15
P_TEMPORARY_UPN = 0.03           # of mid-year joiners (about 0.4% of UPNs)
P_UPN_OTHER_LA = 0.15
P_OFF_ROLL = 0.08
P_REAPPEAR = 0.40                # of "other-school" leavers: a new enrolment at another of the three
P_GP_IN_AREA = 0.97
P_GP_OUT_OF_AREA = 0.30
P_GP_DEREGISTERED = 0.05
P_GP_REREGISTERED = 0.50
P_TENANCY_FAMILY = 0.25
P_POLICE_CHILD = 0.03
P_EXCLUDED = 0.02
P_YOUNG_CARER = 0.04
P_GP_YOUNG_CARER = 0.60          # of young carers with a GP: on the practice's carers register
P_GP_ONLY_YOUNG_CARER = 0.01     # of children whose school records them as not a young carer
P_FSM = 0.24
P_PART_TIME = 0.01
P_ABSENCE_SEVERE = 0.015         # part-time timetables add about 0.5%
P_ABSENCE_PERSISTENT = 0.125
P_CIN = 0.010
P_CP = 0.0035
P_EHE_NOT_ON_ROLL = 0.08         # of school-age children in area with no enrolment
P_CNIS_NOT_ON_ROLL = 0.04
P_EHE_AFTER_OFF_ROLL = 0.90      # of children off-rolled for EHE

# Faults.
P_NAME_FAULT = 0.03              # per record (per enrolment for school files: the MIS holds it)
P_NHS_INVALID = 0.01             # per GP record
P_UPN_INVALID = 0.01             # per enrolment (carried by its attendance and exclusion records)
P_NO_STRONG_ID = 0.05            # per housing / police record
P_REJECT = 0.005                 # per record: missing required field or impossible date

GIVEN_NAMES = [
    "Amara", "Oliver", "Olivia", "Muhammad", "Mohammed", "Aisha", "Zoë", "Renée", "Chloé", "José",
    "Inês", "João", "Siobhán", "Seán", "Niamh", "Aoife", "Noah", "Amelia", "Isla", "Leo", "Arjun",
    "Priya", "Aarav", "Ananya", "Fatima", "Yusuf", "Maryam", "Ibrahim", "Omar", "Hana", "Layla",
    "Zainab", "Chidi", "Chiamaka", "Tobi", "Kofi", "Ama", "Kwame", "Abena", "Emeka", "Ngozi",
    "Temitope", "Oluwaseun", "Ayo", "Jayden", "Tyrone", "Kai", "Malik", "Nia", "Imani", "Liam",
    "Jack", "Harry", "George", "Freya", "Grace", "Ella", "Mia", "Sofia", "Mateo", "Lucas",
    "Gabriel", "Ana", "Maria", "Zuzanna", "Oliwia", "Jakub", "Szymon", "Wiktoria", "Andrei",
    "Ioana", "Ștefan", "Elif", "Ayşe", "Emir", "Yasmin", "Hamza", "Bilal", "Sara", "Lena",
    "Noémie", "Anaïs", "Océane", "Ahmed", "Abdi", "Hodan", "Ayan", "Saeed", "Deniz", "Mehmet",
    "Rania", "Nour", "Jia", "Wei", "Minh", "Linh", "Dev", "Ishaan", "Kiran", "Simran", "Harpreet",
    "Rosa", "Eva", "Daniela", "Camila", "Santiago", "Valentina", "Sean", "Jamal", "Theo", "Ethan",
    "Alfie", "Poppy", "Daisy", "Evie", "Ruby", "Ava", "Isabella", "Anne-Marie", "Jean-Luc",
    "Mary Kate", "Mohamed Ali", "Zoe", "Renee", "Chloe", "Lucía", "Martín", "Sofía", "Hélène",
    "Björn", "Jürgen", "Dóra", "Ciarán", "Éabha", "Rónán", "Tomás",
]
FAMILY_NAMES = [
    "Okafor", "Adeyemi", "Mensah", "Osei", "Boateng", "Asante", "Owusu", "Okonkwo", "Eze",
    "Adebayo", "Patel", "Shah", "Mehta", "Desai", "Khan", "Ahmed", "Hussain", "Begum", "Ali",
    "Rahman", "Chowdhury", "Iqbal", "Malik", "Siddiqui", "Singh", "Kaur", "Sandhu", "Gill",
    "Nguyen", "Tran", "Chen", "Wang", "Li", "Smith", "Jones", "Williams", "Brown", "Taylor",
    "Davies", "Wilson", "Evans", "Thomas", "Johnson", "Roberts", "Walker", "Wright", "Thompson",
    "White", "Green", "Campbell", "Murphy", "O'Brien", "O'Connor", "O'Sullivan", "D'Souza",
    "De Souza", "Da Silva", "Dos Santos", "Van der Merwe", "Smith-Jones", "Okafor-Williams",
    "Hamilton-Reid", "Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Lewandowski", "Kowalczyk",
    "Popescu", "Ionescu", "Popa", "Constantin", "Müller", "Gonçalves", "Pereira", "Santos",
    "Ferreira", "Núñez", "García", "Rodríguez", "Kovačević", "Çelik", "Demir", "Öztürk",
    "Mohamed", "Abdi", "Hassan", "Farah", "Warsame", "Ibrahim", "Yusuf", "Haddad", "Mansour",
    "El-Amin", "Al-Sayed", "Abu Bakr", "McCarthy", "MacDonald", "N'Diaye", "Diallo", "Traoré",
    "Kamara", "Sesay", "Bangura", "Fernandes", "Rocha", "Moreira", "St Clair", "Le Roux",
    "Ní Bhriain", "Ó Súilleabháin", "Brontë", "Renée-Smith", "Dvořák", "Hernández", "Ramírez",
]

# --------------------------------------------------------------------------------------------
# Identifiers (exactly as DOMAIN.md)
# --------------------------------------------------------------------------------------------

UPN_ALPHA = "ABCDEFGHJKLMNPQRTUVWXYZ"     # 23 letters, A=0 .. Z=22; I, O, S never used
_DIGITS = frozenset("0123456789")


def nhs_check_value(first9: str) -> int:
    """The modulus-11 check value of nine digits: 0..9, or 10 (never issued)."""
    t = 0
    for i, ch in enumerate(first9):          # weights 10..2
        t += (ord(ch) - 48) * (10 - i)
    c = 11 - t % 11
    return 0 if c == 11 else c


def nhs_valid(s: str) -> bool:
    if len(s) != 10 or not set(s) <= _DIGITS:
        return False
    c = nhs_check_value(s[:9])
    return c != 10 and c == ord(s[9]) - 48


def _upn_value(ch: str, position: int) -> int:
    if ch in _DIGITS:
        return ord(ch) - 48
    if position == 13 and ch in UPN_ALPHA:
        return UPN_ALPHA.index(ch)
    raise ValueError(f"character {ch!r} not allowed at UPN position {position}")


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters at positions 2..13."""
    s = 0
    for p, ch in enumerate(body, start=2):
        s += p * _upn_value(ch, p)
    return UPN_ALPHA[s % 23]


def upn_valid(u: str) -> bool:
    if len(u) != 13 or u[0] not in UPN_ALPHA or not set(u[1:12]) <= _DIGITS:
        return False
    if not (u[12] in _DIGITS or u[12] in UPN_ALPHA):
        return False
    return upn_check_letter(u[1:]) == u[0]


def self_test() -> None:
    """DOMAIN.md's example vectors must validate (or not) as documented."""
    for n in ("9434765919", "6541003238", "9912003888", "9990000018"):
        assert nhs_valid(n), n
    assert nhs_check_value("999000000") == 10 and not nhs_valid("9990000000")
    for u in ("H801200001001", "B801200005001", "A950000178301", "H243278544154", "P207000016049",
              "G80120000101A", "W80120000101B"):
        assert upn_valid(u), u
    for u in ("Z801200001001", "A801200005001", "R247962919251"):
        assert not upn_valid(u), u
    # A final letter scores its index, not 0: scoring it 0 would make this one fail.
    assert upn_check_letter("80120000101B") == "W"


def strip_diacritics(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


def _check_names() -> None:
    # Every diacritic here decomposes under NFD, so stripping it gives plain ASCII letters; the
    # gateway's diacritic-insensitive folding then treats "Zoë" and "zoe" as the same name.
    for name in GIVEN_NAMES + FAMILY_NAMES:
        plain = strip_diacritics(name)
        assert all(c.isascii() for c in plain), name
        assert len(name) <= 100


# --------------------------------------------------------------------------------------------
# Dates (ordinals internally; strings cached)
# --------------------------------------------------------------------------------------------

_ISO: dict[int, str] = {}
_UK: dict[int, str] = {}


def iso(o: int) -> str:
    s = _ISO.get(o)
    if s is None:
        s = _ISO[o] = dt.date.fromordinal(o).isoformat()
    return s


def uk(o: int) -> str:
    s = _UK.get(o)
    if s is None:
        d = dt.date.fromordinal(o)
        s = _UK[o] = f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
    return s


def is_weekday(o: int) -> bool:
    return (o - 1) % 7 < 5          # ordinal 1 (0001-01-01) is a Monday


def add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:              # 29 February
        return d.replace(year=d.year + years, day=28)


def age_on(dob: dt.date, on: dt.date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def first_weekday_on_or_after(d: dt.date) -> int:
    o = d.toordinal()
    while not is_weekday(o):
        o += 1
    return o


def weekdays_between(a: int, b: int) -> int:
    """Weekdays in [a, b]."""
    if b < a:
        return 0
    n = b - a + 1
    full, rest = divmod(n, 7)
    count = full * 5
    w = (a - 1) % 7
    for i in range(rest):
        if (w + i) % 7 < 5:
            count += 1
    return count


# Half terms of the academic year starting in September of year y: (name, start, end).
def half_terms(y: int) -> list[tuple[str, dt.date, dt.date]]:
    return [
        ("autumn-1", dt.date(y, 9, 3), dt.date(y, 10, 17)),
        ("autumn-2", dt.date(y, 10, 27), dt.date(y, 12, 18)),
        ("spring-1", dt.date(y + 1, 1, 5), dt.date(y + 1, 2, 13)),
        ("spring-2", dt.date(y + 1, 2, 23), dt.date(y + 1, 3, 27)),
        ("summer-1", dt.date(y + 1, 4, 13), dt.date(y + 1, 5, 22)),
        ("summer-2", dt.date(y + 1, 6, 1), dt.date(y + 1, 7, 22)),
    ]


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

ENROLMENT_HEADER = ["Adno", "UPN", "Legal Surname", "Legal Forename", "DOB", "Postcode", "Entry Date",
                    "Leaving Date", "Reason for Leaving", "SEN Status", "Young Carer", "FSM",
                    "Part-time Timetable"]
ATTENDANCE_HEADER = ["Adno", "UPN", "Surname", "Forename", "DOB", "Period Start", "Period End",
                     "Possible", "Present", "Unauthorised"]
HOUSING_HEADER = ["Tenancy Ref", "Child Forename", "Child Surname", "Child DOB", "NHS Number",
                  "Postcode", "Tenancy Start", "Tenancy End", "Temporary Accommodation",
                  "Moved Out Of Area"]


class Sink:
    """One output file: CSV (RFC 4180, CRLF) or NDJSON (LF), UTF-8 without BOM."""

    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def __init__(self, root: str, rel: str, header: list[str] | None = None):
        self.rel = rel
        path = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "w", encoding="utf-8", newline="")
        self.line = 0
        self.count = 0
        if header is not None:
            self.csv = csv.writer(self.f, lineterminator="\r\n")
            self.csv.writerow(header)
            self.line = 1
        else:
            self.csv = None

    def row(self, cells: list) -> int:
        self.csv.writerow(cells)
        self.line += 1
        self.count += 1
        return self.line

    def record(self, obj: dict) -> int:
        self.f.write(Sink._encode(obj))
        self.f.write("\n")
        self.line += 1
        self.count += 1
        return self.line

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------

def _cumulative(pairs):
    items, cum, total = [], [], 0.0
    for item, w in pairs:
        total += w
        items.append(item)
        cum.append(total)
    return items, [c / total for c in cum]


def generate(children: int = DEFAULT_CHILDREN, out_dir: str = HERE,
             today: dt.date = dt.date.fromisoformat(DEFAULT_TODAY), seed: int = SEED) -> dict:
    if children < 1:
        raise ValueError("--children must be at least 1")
    self_test()
    _check_names()

    rng = Random(seed)
    r = rng.random
    rr = rng.randrange
    choice = rng.choice
    bisect_right = bisect.bisect_right

    class Rate:
        """Bernoulli draws at rate p, nudged towards p by the running shortfall, so that a small
        sample still shows the advertised rate while which records are hit stays random."""

        def __init__(self, p: float, draw=None):
            self.p, self.n, self.k = p, 0, 0
            self.draw = r if draw is None else draw

        def __call__(self, weight: int = 1) -> bool:
            self.n += weight
            hit = self.draw() < self.p + 0.1 * (self.p * self.n - self.k) / weight
            if hit:
                self.k += weight
            return hit

    name_fault_rate = Rate(P_NAME_FAULT)
    nhs_invalid_rate = Rate(P_NHS_INVALID)
    upn_invalid_rate = Rate(P_UPN_INVALID)
    no_id_rate = Rate(P_NO_STRONG_ID)
    reject_rate = Rate(P_REJECT)
    moved_rate = Rate(P_MOVED_FAMILY)
    out_of_area_rate = Rate(P_OUT_OF_AREA_FAMILY)
    tenancy_rate = Rate(P_TENANCY_FAMILY)
    police_rate = Rate(P_POLICE_CHILD)
    young_carer_rate = Rate(P_YOUNG_CARER)
    part_time_rate = Rate(P_PART_TIME)
    severe_rate = Rate(P_ABSENCE_SEVERE)
    persistent_rate = Rate(P_ABSENCE_PERSISTENT / (1 - P_ABSENCE_SEVERE))
    off_roll_rate = Rate(P_OFF_ROLL)
    on_roll_in_rate = Rate(P_ON_ROLL_IN_AREA)
    on_roll_out_rate = Rate(P_ON_ROLL_OUT_OF_AREA)
    excluded_rate = Rate(P_EXCLUDED)
    # GP carers registers: their own stream, so that every draw above (and every other file) is
    # unchanged by them.
    carers_rng = Random(f"{seed}/gp-carers-register")
    gp_young_carer_rate = Rate(P_GP_YOUNG_CARER, carers_rng.random)
    gp_only_young_carer_rate = Rate(P_GP_ONLY_YOUNG_CARER, carers_rng.random)

    def pick(table):
        items, cum = table
        return items[bisect_right(cum, r())]

    primary_t = _cumulative(PRIMARY_SCHOOLS)
    secondary_t = _cumulative(SECONDARY_SCHOOLS)
    practice_t = _cumulative(PRACTICES)
    reason_t = _cumulative(OFF_ROLL_REASONS)
    sen_t = _cumulative(SEN_STATUSES)
    exclusion_t = _cumulative(EXCLUSION_CATEGORIES)
    police_t = _cumulative(POLICE_CATEGORIES)
    family_size_t = _cumulative(((1, 0.45), (2, 0.35), (3, 0.15), (4, 0.05)))

    T = today.toordinal()
    extract = T - 1                       # the day the agencies ran their extracts
    dob_lo = add_years(today, -18).toordinal() + 1
    dob_hi = add_years(today, -2).toordinal()        # ages 2..17 today
    last_31_aug = dt.date(today.year, 8, 31)
    if last_31_aug > today:
        last_31_aug = dt.date(today.year - 1, 8, 31)
    AY = last_31_aug.year                 # the academic year that started in September AY
    prev_ay_start = dt.date(AY - 1, 9, 1).toordinal()

    def school_start(year: int) -> int:
        return first_weekday_on_or_after(dt.date(year, 9, 3))

    # The two most recent half terms that ended before today, oldest first.
    terms = [t for y in (AY - 2, AY - 1, AY) for t in half_terms(y) if t[2].toordinal() < T][-2:]
    # Each school closes for one INSET day in each of those half terms (a different day per
    # school), so sessionsPossible differs a little between schools.
    school_days: dict[str, list[list[int]]] = {}
    for urn in SCHOOLS:
        per_term = []
        for _, start, end in terms:
            days = [o for o in range(start.toordinal(), end.toordinal() + 1) if is_weekday(o)]
            del days[rr(len(days))]
            per_term.append(days)
        school_days[urn] = per_term

    def rand_weekday(a: int, b: int) -> int:
        """A weekday in [a, b] (a >= b returns a weekday near a)."""
        if b <= a:
            o = a
            while not is_weekday(o):
                o -= 1
            return o
        for _ in range(12):
            o = a + rr(b - a + 1)
            if is_weekday(o):
                return o
        while not is_weekday(o):
            o -= 1
        return o

    def postcode(in_area: bool) -> str:
        district = choice(IN_AREA_DISTRICTS if in_area else OUT_OF_AREA_DISTRICTS)
        return f"{district} {rr(10)}{choice(INWARD_LETTERS)}{choice(INWARD_LETTERS)}"

    used_nhs: set[str] = set()

    def new_nhs() -> str:
        while True:
            first9 = "9" + f"{rr(100_000_000):08d}"
            c = nhs_check_value(first9)
            if c == 10:
                continue
            n = first9 + str(c)
            if n in used_nhs:
                continue
            used_nhs.add(n)
            assert nhs_valid(n)
            return n

    def corrupt_nhs(n: str) -> str:
        while True:
            i = rr(10)
            d = str(rr(10))
            if d == n[i]:
                continue
            bad = n[:i] + d + n[i + 1:]
            assert not nhs_valid(bad)
            return bad

    used_upn: set[str] = set()

    def new_upn(la: str, estab: str, year: int, temporary: bool) -> str:
        attempts = 0
        while True:
            attempts += 1
            if attempts > 20:
                # That school's serials for the year are used up (only at very large --children):
                # the UPN was issued by another Brent establishment.
                estab = f"{2002 + rr(2000):04d}"
            if temporary:
                body = f"{la}{estab}{year % 100:02d}{rr(100):02d}{choice(UPN_ALPHA)}"
            else:
                body = f"{la}{estab}{year % 100:02d}{rr(1000):03d}"
            u = upn_check_letter(body) + body
            if u in used_upn:
                continue
            used_upn.add(u)
            assert upn_valid(u)
            return u

    def corrupt_upn(u: str) -> str:
        while True:
            c = choice(UPN_ALPHA)
            if c != u[0]:
                bad = c + u[1:]
                assert not upn_valid(bad)
                return bad

    def name_fault(name: str) -> tuple[str, str]:
        """A realistic variant of a name, and what kind of variant it is."""
        plain = strip_diacritics(name)
        x = r()
        if plain != name and x < 0.4:
            return (plain.lower() if r() < 0.3 else plain), "diacritics"       # "zoe" for "Zoë"
        if x < 0.4 and any(c in " -'" for c in name):
            y = r()
            if " " in name:
                return (name.replace(" ", "") if y < 0.5 else name.replace(" ", "  ")), "spacing"
            if "-" in name:
                return (name.replace("-", " ") if y < 0.5 else name.replace("-", "")), "spacing"
            return (name.replace("'", "") if y < 0.5 else name.replace("'", " ")), "spacing"
        y = r()
        if y < 0.3:
            return (name.upper() if r() < 0.6 else name.lower()), "case"
        letters = [i for i, c in enumerate(name) if c.isalpha()]
        if y < 0.65:
            pairs = [i for i in letters[:-1] if name[i + 1].isalpha() and name[i].lower() != name[i + 1].lower()]
            if pairs:
                i = choice(pairs)
                swapped = name[:i] + name[i + 1] + name[i] + name[i + 2:]
                if i == 0:                                   # "Aoife" -> "Oaife", not "oAife"
                    swapped = swapped[0].upper() + swapped[1].lower() + swapped[2:]
                if swapped != name:
                    return swapped, "typo-swap"
        if len(letters) >= 3:
            i = choice(letters[1:])
            return name[:i] + name[i + 1:], "typo-drop"
        return name.upper(), "case"

    def faulty_names(given: str, family: str, weight: int = 1):
        if not name_fault_rate(weight):
            return given, family, None
        if r() < 0.5:
            g, kind = name_fault(given)
            return g, family, "name-" + kind
        f, kind = name_fault(family)
        return given, f, "name-" + kind

    def bad_iso(o: int) -> str:
        d = dt.date.fromordinal(o)
        x = r()
        if x < 0.4:
            return f"{d.year:04d}-13-{d.day:02d}"
        if x < 0.7:
            return f"{d.year:04d}-02-30"
        if x < 0.85:
            return f"{d.year:04d}-{choice((4, 6, 9, 11)):02d}-31"
        return f"{d.year:04d}-{d.month:02d}-00"

    def bad_uk(o: int) -> str:
        d = dt.date.fromordinal(o)
        x = r()
        if x < 0.4 and d.day > 12:
            return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"     # month and day swapped
        if x < 0.6:
            return f"{d.day:02d}/13/{d.year:04d}"
        if x < 0.85:
            return f"30/02/{d.year:04d}"
        return f"31/{choice((4, 6, 9, 11)):02d}/{d.year:04d}"

    os.makedirs(out_dir, exist_ok=True)
    sinks: dict[str, Sink] = {}

    def sink(rel: str, header=None) -> Sink:
        s = Sink(out_dir, rel, header)
        sinks[rel] = s
        return s

    enrol_sink = {u: sink(f"school-{u}/enrolment.csv", ENROLMENT_HEADER) for u in SCHOOLS}
    attend_sink = {u: sink(f"school-{u}/attendance.csv", ATTENDANCE_HEADER) for u in SCHOOLS}
    excl_sink = {u: sink(f"school-{u}/exclusions.ndjson") for u in SCHOOLS}
    gp_sink = sink("nhs/gp-registrations.ndjson")
    police_sink = sink("police/notifications.ndjson")
    housing_sink = sink("housing/tenancies.csv", HOUSING_HEADER)
    la_sink = sink("la/registers.ndjson")
    truth = Sink(out_dir, "ground-truth.csv", ["file", "localRef", "child"])
    faults = Sink(out_dir, "faults.csv", ["file", "line", "localRef", "child", "fault", "field"])
    truth_row = truth.csv.writerow
    fault_row = faults.csv.writerow

    stats = {
        "children": children, "families": 0, "out_of_area_children": 0, "moved_children": 0,
        "school_age_in_area": 0, "school_age_in_area_on_roll": 0,
        "named_records": 0, "name_faults": 0,
        "gp_records": 0, "nhs_invalid": 0,
        "school_records": 0, "upn_invalid": 0, "enrolments": 0, "enrolments_off_roll": 0,
        "reappeared": 0, "temporary_upns": 0,
        "housing_police_records": 0, "no_strong_id": 0,
        "reject": 0, "records": 0,
        "attendance_records": 0, "persistent": 0, "severe": 0,
        "children_on_register": 0, "children_with_police": 0, "children_with_gp": 0,
        "children_excluded_on_roll": 0, "enrolments_young_carer": 0, "enrolments_part_time": 0,
        "families_with_tenancy": 0,
        "young_carers_with_gp": 0, "gp_young_carer_children": 0,
        "not_young_carer_pupils_with_gp": 0, "gp_only_young_carers": 0,
        "gp_young_carer_records": 0, "young_carers_report_expected": 0,
    }
    fault_counts: dict[str, int] = {}

    def note_fault(s: Sink, line: int, ref: str, cid: str, fault: str, field: str = "") -> None:
        fault_row([s.rel, line, ref, cid, fault, field])
        fault_counts[fault] = fault_counts.get(fault, 0) + 1

    def reject_csv(cells: list, date_cols: list[tuple[int, int, str]], required: tuple[int, str]):
        """Spoil one row: blank a required column, or put an impossible date in a date column."""
        if r() < 0.4:
            idx, field = required
            cells[idx] = ""
            return "reject-missing-field", field
        idx, o, field = choice(date_cols)
        cells[idx] = bad_uk(o)
        return "reject-bad-date", field

    def reject_json(rec: dict, date_paths: list[tuple[str, str, int]], required: list[str]):
        if r() < 0.4:
            name = choice(required)
            del rec["fields"][name]
            return "reject-missing-field", "fields." + name
        section, key, o = choice(date_paths)
        if key == "occurredAt":
            rec[section][key] = bad_iso(o) + rec[section][key][10:]
        else:
            rec[section][key] = bad_iso(o)
        return "reject-bad-date", f"{section}.{key}"

    adno_counter = {u: 0 for u in SCHOOLS}
    excl_counter = {u: 0 for u in SCHOOLS}
    gp_counter = {p: 0 for p, _ in PRACTICES}
    police_counter = 0
    la_counter = 0
    obs_school = f"{iso(extract)}T17:30:00Z"
    obs_nhs = f"{iso(extract)}T02:00:00Z"
    obs_la = f"{iso(extract)}T18:00:00Z"
    extract_dt = dt.datetime.combine(dt.date.fromordinal(extract), dt.time(23, 0))

    def emit_enrolment(cid, urn, given, family, dob_o, pc, upn, entry, leave, reason,
                       sen, yc, fsm, ptt, absence):
        adno_counter[urn] += 1
        adno = f"{adno_counter[urn]:06d}"
        # The half terms in which the pupil was on roll: (term index, first day, last day).
        last_day = (leave - 1) if leave else T
        on_roll_terms = []
        for ti, (_, tstart, tend) in enumerate(terms):
            a = max(entry, tstart.toordinal())
            b = min(last_day, tend.toordinal())
            if b >= a:
                on_roll_terms.append((ti, a, b))
        # A wrong name or UPN is held in the MIS, so it reaches every record of this enrolment.
        weight = 1 + len(on_roll_terms)
        g, f, nf = faulty_names(given, family, weight)
        upn_bad = upn_invalid_rate(weight)
        upn_out = corrupt_upn(upn) if upn_bad else upn
        es = enrol_sink[urn]
        cells = [adno, upn_out, f, g, uk(dob_o), pc, uk(entry), uk(leave) if leave else "",
                 OFF_ROLL_TEXT[reason] if reason else "", sen, "Y" if yc else "N",
                 "Y" if fsm else "N", "Y" if ptt else "N"]
        rej = None
        if reject_rate():
            dates = [(4, dob_o, "identifiers.dateOfBirth"), (6, entry, "fields.onRollFrom")]
            if leave:
                dates.append((7, leave, "fields.offRollOn"))
            rej = reject_csv(cells, dates, (6, "fields.onRollFrom"))
        line = es.row(cells)
        truth_row([es.rel, adno, cid])
        stats["enrolments"] += 1
        stats["school_records"] += 1
        stats["named_records"] += 1
        stats["records"] += 1
        if leave:
            stats["enrolments_off_roll"] += 1
        if yc:
            stats["enrolments_young_carer"] += 1
        if ptt:
            stats["enrolments_part_time"] += 1
        if nf:
            stats["name_faults"] += 1
            note_fault(es, line, adno, cid, nf)
        if upn_bad:
            stats["upn_invalid"] += 1
            note_fault(es, line, adno, cid, "upn-invalid-check", "identifiers.upn")
        if rej:
            stats["reject"] += 1
            note_fault(es, line, adno, cid, *rej)

        # Attendance: one record per half term in which the pupil was on roll.
        as_ = attend_sink[urn]
        for ti, a, b in on_roll_terms:
            _, tstart, tend = terms[ti]
            days = school_days[urn][ti]
            n_days = bisect_right(days, b) - bisect.bisect_left(days, a)
            possible = 2 * n_days
            if possible == 0:
                continue
            if ptt:
                rate = 0.35 + 0.3 * r()
                unauth_share = 0.05 * r()
            elif absence == 2:
                rate = 0.5 + 0.45 * r()
                unauth_share = 0.5 + 0.5 * r()
            elif absence == 1:
                rate = 0.10 + 0.35 * r()
                unauth_share = 0.3 + 0.5 * r()
            else:
                rate = 0.095 * r() * r()
                unauth_share = 0.25 * r()
            if absence or ptt:
                absent = -int(-possible * rate // 1)       # ceiling keeps the category's floor
            else:
                absent = int(possible * rate)
            absent = min(absent, possible)
            unauth = int(round(absent * unauth_share))
            present = possible - absent
            ratio = absent / possible
            stats["attendance_records"] += 1
            if ratio >= 0.10:
                stats["persistent"] += 1
            if ratio >= 0.50:
                stats["severe"] += 1
            ps = uk(tstart.toordinal())
            cells = [adno, upn_out, f, g, uk(dob_o), ps, uk(tend.toordinal()), str(possible),
                     str(present), str(unauth)]
            arej = None
            if reject_rate():
                arej = reject_csv(cells, [(4, dob_o, "identifiers.dateOfBirth"),
                                          (6, tend.toordinal(), "fields.periodEnd")],
                                  (7, "fields.sessionsPossible"))
            ref = f"{adno}#{cells[5]}"
            aline = as_.row(cells)
            truth_row([as_.rel, ref, cid])
            stats["school_records"] += 1
            stats["named_records"] += 1
            stats["records"] += 1
            if nf:
                stats["name_faults"] += 1
                note_fault(as_, aline, ref, cid, nf)
            if upn_bad:
                stats["upn_invalid"] += 1
                note_fault(as_, aline, ref, cid, "upn-invalid-check", "identifiers.upn")
            if arej:
                stats["reject"] += 1
                note_fault(as_, aline, ref, cid, *arej)

        # Exclusions.
        exclusions = []
        if reason == "permanent-exclusion":
            k = 5 + rr(16)                          # school days excluded while still on roll
            start = leave - (k * 7) // 5
            start = max(start, entry)
            while not is_weekday(start):
                start += 1
            exclusions.append(("permanent", start, weekdays_between(start, leave - 1)))
        if excluded_rate():
            lo = max(entry, prev_ay_start)
            hi = (leave - 1) if leave else extract - 1
            if hi >= lo:
                stats["children_excluded_on_roll"] += 1
                for _ in range(1 + (r() < 0.25) + (r() < 0.08)):
                    cat = pick(exclusion_t)
                    if cat == "suspension":
                        days = choice((1, 1, 1, 2, 2, 3, 3, 5, 5, 10))
                    elif cat == "internal":
                        days = choice((1, 1, 2, 3))
                    else:
                        days = choice((30, 30, 60))  # managed-move trial, school days
                    exclusions.append((cat, rand_weekday(lo, hi), days))
        if exclusions:
            xs = excl_sink[urn]
            for cat, start, days in exclusions:
                excl_counter[urn] += 1
                ref = f"EXC-{urn}-{excl_counter[urn]:06d}"
                rec = {"kind": "school.exclusion", "localRef": ref, "observedAt": obs_school,
                       "identifiers": {"upn": upn_out, "givenName": g, "familyName": f,
                                       "dateOfBirth": iso(dob_o), "postcode": pc},
                       "fields": {"category": cat, "startDate": iso(start), "days": days}}
                xrej = None
                if reject_rate():
                    xrej = reject_json(rec, [("identifiers", "dateOfBirth", dob_o),
                                             ("fields", "startDate", start)],
                                       ["category", "startDate"])
                xline = xs.record(rec)
                truth_row([xs.rel, ref, cid])
                stats["school_records"] += 1
                stats["named_records"] += 1
                stats["records"] += 1
                if nf:
                    stats["name_faults"] += 1
                    note_fault(xs, xline, ref, cid, nf)
                if upn_bad:
                    stats["upn_invalid"] += 1
                    note_fault(xs, xline, ref, cid, "upn-invalid-check", "identifiers.upn")
                if xrej:
                    stats["reject"] += 1
                    note_fault(xs, xline, ref, cid, *xrej)
        # Whether the gateway will accept the enrolment record itself (valid UPN, not spoiled).
        return rej is None and not upn_bad

    child_no = 0
    family_no = 0
    tenancy_no = 0
    while child_no < children:
        family_no += 1
        size = min(pick(family_size_t), children - child_no)
        family_name = choice(FAMILY_NAMES)
        out_of_area = out_of_area_rate(size)
        home_pc = postcode(not out_of_area)
        if out_of_area:
            moved = False
            moved_rate.n += size                            # the rate is over all children
        else:
            moved = moved_rate(size)
        moved_out = False
        move_o = 0
        if moved:
            moved_out = r() < P_MOVED_OUT
            current_pc = postcode(not moved_out)
            while current_pc == home_pc:
                current_pc = postcode(not moved_out)
            move_o = rand_weekday(T - 540, T - 30)
        else:
            current_pc = home_pc
        lives_in_area = not out_of_area and not moved_out
        school_pc = home_pc                                 # movers: the school has the old one

        # Household tenancy (per family; one row per child).
        tenancy = None
        if tenancy_rate():
            stats["families_with_tenancy"] += 1
            tenancy_no += 1
            t_from = rand_weekday(T - 12 * 365, T - 60)
            t_to = None
            if moved_out:
                temp = r() < 0.3
                t_to = move_o
                t_from = min(t_from, move_o - 90)
                moved_flag = True
            elif out_of_area:
                temp = r() < 0.7                            # placed out of area by the LA
                moved_flag = True
            else:
                temp = r() < 0.15
                moved_flag = False
                if r() < 0.08 and t_from + 180 < T - 2:
                    t_to = rand_weekday(t_from + 180, T - 2)
            tenancy = (tenancy_no, t_from, t_to, temp, moved_flag)

        dobs = []
        for _ in range(size):
            if dobs and r() < 0.02:
                dobs.append(dobs[-1])                        # twins
                continue
            for _ in range(20):
                o = dob_lo + rr(dob_hi - dob_lo + 1)
                if all(abs(o - x) >= 300 for x in dobs):
                    break
            dobs.append(o)
        givens: list[str] = []
        second_surname = choice(FAMILY_NAMES)

        for k in range(size):
            child_no += 1
            cid = f"C{child_no:06d}"
            given = choice(GIVEN_NAMES)
            while given in givens:
                given = choice(GIVEN_NAMES)
            givens.append(given)
            x = r()
            if x < 0.10:
                family = second_surname
            elif x < 0.14 and "-" not in family_name and "-" not in second_surname:
                family = f"{family_name}-{second_surname}"
            else:
                family = family_name
            dob_o = dobs[k]
            dob = dt.date.fromordinal(dob_o)
            nhs = new_nhs()
            age31 = age_on(dob, last_31_aug)
            if not lives_in_area:
                stats["out_of_area_children"] += 1
            if moved:
                stats["moved_children"] += 1

            sen = pick(sen_t)
            yc = young_carer_rate()
            fsm = r() < P_FSM
            ptt = part_time_rate()
            absence = 2 if severe_rate() else (1 if persistent_rate() else 0)

            # ---- School -------------------------------------------------------------------
            upn = None
            on_roll_now = False
            current_enrolment_accepted = False      # a current enrolment the gateway will accept
            off_reason = None
            off_o = None
            school_age = 5 <= age31 <= 16
            if school_age and not out_of_area:
                stats["school_age_in_area"] += 1
            if school_age and (on_roll_out_rate() if out_of_area else on_roll_in_rate()):
                if not out_of_area:
                    stats["school_age_in_area_on_roll"] += 1
                yg = age31 - 4                                   # national curriculum year
                urn = pick(primary_t if yg <= 6 else secondary_t)
                reception_year = AY - yg
                if SCHOOLS[urn]["phase"] == "secondary" or (yg >= 7 and r() < 0.15):
                    normal_entry = school_start(AY - (yg - 7))
                    joined_at_reception = False
                else:
                    normal_entry = school_start(reception_year)
                    joined_at_reception = True
                mid_year = r() < P_MID_YEAR_JOINER
                entry = normal_entry
                if mid_year and normal_entry + 1 < T - 7:
                    entry = rand_weekday(normal_entry + 1, T - 7)
                    joined_at_reception = False
                temporary = mid_year and r() < P_TEMPORARY_UPN
                if joined_at_reception:
                    upn = new_upn(LA_CODE, SCHOOLS[urn]["estab"], reception_year, temporary)
                else:
                    la = choice(OTHER_LA_CODES) if r() < P_UPN_OTHER_LA else LA_CODE
                    year = dt.date.fromordinal(entry).year if (mid_year and r() < 0.3) else reception_year
                    upn = new_upn(la, f"{2002 + rr(2000):04d}", year, temporary)
                if temporary:
                    stats["temporary_upns"] += 1
                leave = None
                if off_roll_rate():
                    lo = max(entry + 20, prev_ay_start)
                    hi = T - 2
                    if lo <= hi:
                        leave = rand_weekday(lo, hi)
                        off_reason = pick(reason_t)
                elif moved_out and move_o > entry + 20 and r() < 0.4:
                    leave = move_o if is_weekday(move_o) else rand_weekday(move_o, move_o)
                    off_reason = "moved-away"
                off_o = leave
                accepted = emit_enrolment(cid, urn, given, family, dob_o, school_pc, upn, entry, leave,
                                          off_reason, sen, yc, fsm, ptt, absence)
                on_roll_now = leave is None
                current_enrolment_accepted = on_roll_now and accepted
                if off_reason == "other-school" and r() < P_REAPPEAR and leave + 3 <= T - 1:
                    urn2 = choice([u for u in (primary_t[0] if yg <= 6 else secondary_t[0]) if u != urn])
                    entry2 = rand_weekday(leave + 1, min(leave + 21, T - 1))
                    stats["reappeared"] += 1
                    accepted2 = emit_enrolment(cid, urn2, given, family, dob_o, school_pc, upn, entry2, None,
                                               None, sen, yc, fsm, ptt, absence)
                    on_roll_now = True
                    current_enrolment_accepted = current_enrolment_accepted or accepted2

            # ---- GP -----------------------------------------------------------------------
            if r() < (P_GP_IN_AREA if lives_in_area else P_GP_OUT_OF_AREA):
                stats["children_with_gp"] += 1
                registrations = []
                practice = pick(practice_t)
                if r() < 0.75:
                    reg_from = min(dob_o + 7 + rr(84), T - 3)
                else:
                    reg_from = dob_o + rr(max(1, T - 30 - dob_o))
                dereg = None
                if r() < P_GP_DEREGISTERED and reg_from + 30 < T - 2:
                    dereg = reg_from + 30 + rr(T - 2 - reg_from - 30 + 1)
                registrations.append((practice, reg_from, dereg))
                if dereg is not None and r() < P_GP_REREGISTERED and dereg + 1 < T - 2:
                    p2 = choice([p for p, _ in PRACTICES if p != practice])
                    registrations.append((p2, min(dereg + 1 + rr(30), T - 2), None))
                # The practice's carers register: most young carers are on it; a few children
                # whose school records them as not young carers are on it too (the young-carers
                # report finds these). The flag is on the latest registration only.
                gp_carer = False
                if yc:
                    stats["young_carers_with_gp"] += 1
                    gp_carer = gp_young_carer_rate()
                    stats["gp_young_carer_children"] += gp_carer
                elif upn is not None:
                    stats["not_young_carer_pupils_with_gp"] += 1
                    gp_carer = gp_only_young_carer_rate()
                    stats["gp_only_young_carers"] += gp_carer
                gp_carer_accepted = False
                for i, (practice, reg_from, dereg) in enumerate(registrations):
                    gp_counter[practice] += 1
                    ref = f"GP-{practice}-{gp_counter[practice]:06d}"
                    g, f, nf = faulty_names(given, family)
                    bad_nhs = nhs_invalid_rate()
                    fields = {"practice": practice, "registeredFrom": iso(reg_from)}
                    if dereg is not None:
                        fields["deregisteredOn"] = iso(dereg)
                    flagged = gp_carer and i == len(registrations) - 1
                    if flagged:
                        fields["youngCarer"] = True
                    rec = {"kind": "nhs.gp-registration", "localRef": ref, "observedAt": obs_nhs,
                           "identifiers": {"nhsNumber": corrupt_nhs(nhs) if bad_nhs else nhs,
                                           "givenName": g, "familyName": f,
                                           "dateOfBirth": iso(dob_o), "postcode": current_pc},
                           "fields": fields}
                    rej = None
                    if reject_rate():
                        dates = [("identifiers", "dateOfBirth", dob_o), ("fields", "registeredFrom", reg_from)]
                        rej = reject_json(rec, dates, ["practice", "registeredFrom"])
                    line = gp_sink.record(rec)
                    truth_row([gp_sink.rel, ref, cid])
                    stats["gp_records"] += 1
                    stats["named_records"] += 1
                    stats["records"] += 1
                    if nf:
                        stats["name_faults"] += 1
                        note_fault(gp_sink, line, ref, cid, nf)
                    if bad_nhs:
                        stats["nhs_invalid"] += 1
                        note_fault(gp_sink, line, ref, cid, "nhs-invalid-check", "identifiers.nhsNumber")
                    if rej:
                        stats["reject"] += 1
                        note_fault(gp_sink, line, ref, cid, *rej)
                    if flagged:
                        stats["gp_young_carer_records"] += 1
                        gp_carer_accepted = rej is None and not bad_nhs
                # What the young-carers report should find: a GP says young carer, the school the
                # child is on roll at now says not, and the gateway accepts both records.
                if gp_carer and not yc and current_enrolment_accepted and gp_carer_accepted:
                    stats["young_carers_report_expected"] += 1

            # ---- Housing ------------------------------------------------------------------
            if tenancy is not None:
                t_no, t_from, t_to, temp, moved_flag = tenancy
                ref = f"HT-{t_no:07d}-{k + 1}"
                g, f, nf = faulty_names(given, family)
                no_id = no_id_rate()
                nhs_cell = "" if no_id else f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
                cells = [ref, g, f, uk(dob_o), nhs_cell, current_pc, uk(t_from),
                         uk(t_to) if t_to else "", "Y" if temp else "N", "Y" if moved_flag else "N"]
                rej = None
                if reject_rate():
                    rej = reject_csv(cells, [(3, dob_o, "identifiers.dateOfBirth"),
                                             (6, t_from, "fields.tenancyFrom")],
                                     (6, "fields.tenancyFrom"))
                line = housing_sink.row(cells)
                truth_row([housing_sink.rel, ref, cid])
                stats["housing_police_records"] += 1
                stats["named_records"] += 1
                stats["records"] += 1
                if nf:
                    stats["name_faults"] += 1
                    note_fault(housing_sink, line, ref, cid, nf)
                if no_id:
                    stats["no_strong_id"] += 1
                    note_fault(housing_sink, line, ref, cid, "no-strong-identifier", "identifiers.nhsNumber")
                if rej:
                    stats["reject"] += 1
                    note_fault(housing_sink, line, ref, cid, *rej)

            # ---- Police -------------------------------------------------------------------
            if police_rate():
                stats["children_with_police"] += 1
                for _ in range(1 + (r() < 0.3) + (r() < 0.1)):
                    cat = pick(police_t)
                    age_now = age_on(dob, today)
                    if cat == "missing-episode" and age_now < 10:
                        cat = "concern"
                    day = T - 2 - rr(364)
                    day = max(day, dob_o + 1)
                    occurred = dt.datetime.combine(dt.date.fromordinal(day), dt.time(rr(24), rr(60)))
                    observed = min(occurred + dt.timedelta(minutes=20 + rr(900)), extract_dt)
                    present = True if cat == "missing-episode" else (r() < 0.7)
                    police_counter += 1
                    ref = f"MPS-{police_counter:07d}"
                    g, f, nf = faulty_names(given, family)
                    no_id = no_id_rate()
                    ids = {} if no_id else {"nhsNumber": nhs}
                    ids.update(givenName=g, familyName=f, dateOfBirth=iso(dob_o), postcode=current_pc)
                    rec = {"kind": "police.notification", "localRef": ref,
                           "observedAt": observed.strftime("%Y-%m-%dT%H:%M:%SZ"), "identifiers": ids,
                           "fields": {"category": cat,
                                      "occurredAt": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "childPresent": present}}
                    rej = None
                    if reject_rate():
                        rej = reject_json(rec, [("identifiers", "dateOfBirth", dob_o),
                                                ("fields", "occurredAt", day)],
                                          ["category", "occurredAt"])
                    line = police_sink.record(rec)
                    truth_row([police_sink.rel, ref, cid])
                    stats["housing_police_records"] += 1
                    stats["named_records"] += 1
                    stats["records"] += 1
                    if nf:
                        stats["name_faults"] += 1
                        note_fault(police_sink, line, ref, cid, nf)
                    if no_id:
                        stats["no_strong_id"] += 1
                        note_fault(police_sink, line, ref, cid, "no-strong-identifier", "identifiers.nhsNumber")
                    if rej:
                        stats["reject"] += 1
                        note_fault(police_sink, line, ref, cid, *rej)

            # ---- LA registers -------------------------------------------------------------
            registers = []
            if off_reason == "ehe" and not on_roll_now and r() < P_EHE_AFTER_OFF_ROLL:
                registers.append(("ehe", min(off_o + rr(11), T - 2), None))
            elif school_age and lives_in_area and upn is None:
                x = r()
                if x < P_EHE_NOT_ON_ROLL:
                    registers.append(("ehe", rand_weekday(max(dob_o + 5 * 365, T - 3 * 365), T - 2), None))
                elif x < P_EHE_NOT_ON_ROLL + P_CNIS_NOT_ON_ROLL:
                    registers.append(("cnis", rand_weekday(T - 400, T - 2), None))
            x = r()
            if x < P_CP:
                cp_from = rand_weekday(max(dob_o + 1, T - 3 * 365), T - 2)
                cin_from = max(dob_o + 1, cp_from - rr(120))
                registers.append(("cin", cin_from, None))
                cp_to = rand_weekday(cp_from + 90, T - 2) if (r() < 0.5 and cp_from + 90 < T - 2) else None
                registers.append(("cp", cp_from, cp_to))
            elif x < P_CP + P_CIN:
                cin_from = rand_weekday(max(dob_o + 1, T - 4 * 365), T - 2)
                cin_to = rand_weekday(cin_from + 60, T - 2) if (r() < 0.4 and cin_from + 60 < T - 2) else None
                registers.append(("cin", cin_from, cin_to))
            if registers:
                stats["children_on_register"] += 1
            for reg, r_from, r_to in registers:
                la_counter += 1
                ref = f"LA304-{reg.upper()}-{la_counter:06d}"
                g, f, nf = faulty_names(given, family)
                ids = {}
                if r() < 0.85:
                    ids["nhsNumber"] = nhs
                if upn is not None and r() < 0.9:
                    ids["upn"] = upn
                ids.update(givenName=g, familyName=f, dateOfBirth=iso(dob_o), postcode=current_pc)
                fields = {"register": reg, "from": iso(r_from)}
                if r_to is not None:
                    fields["to"] = iso(r_to)
                rec = {"kind": "la.register", "localRef": ref, "observedAt": obs_la,
                       "identifiers": ids, "fields": fields}
                rej = None
                if reject_rate():
                    rej = reject_json(rec, [("identifiers", "dateOfBirth", dob_o), ("fields", "from", r_from)],
                                      ["register", "from"])
                line = la_sink.record(rec)
                truth_row([la_sink.rel, ref, cid])
                stats["named_records"] += 1
                stats["records"] += 1
                if nf:
                    stats["name_faults"] += 1
                    note_fault(la_sink, line, ref, cid, nf)
                if rej:
                    stats["reject"] += 1
                    note_fault(la_sink, line, ref, cid, *rej)

    stats["families"] = family_no
    stats["fault_counts"] = dict(sorted(fault_counts.items()))
    stats["files"] = {rel: s.count for rel, s in sorted(sinks.items())}
    stats["terms"] = [(name, s.isoformat(), e.isoformat()) for name, s, e in terms]
    stats["sessions_possible_full_term"] = {u: [2 * len(d) for d in school_days[u]] for u in SCHOOLS}
    for s in list(sinks.values()) + [truth, faults]:
        s.close()

    def data_rows(rel: str) -> int:
        with open(os.path.join(out_dir, rel), "rb") as fh:
            return sum(1 for _ in fh) - 1
    stats["ground_truth_rows"] = data_rows("ground-truth.csv")
    stats["fault_rows"] = data_rows("faults.csv")
    assert stats["ground_truth_rows"] == stats["records"] == sum(stats["files"].values())
    write_manifest(out_dir, stats, children, today, seed)
    return stats


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.2f}% ({a}/{b})" if b else "n/a (0/0)"


def write_manifest(out_dir: str, st: dict, children: int, today: dt.date, seed: int) -> None:
    fc = st["fault_counts"]
    rejects = fc.get("reject-bad-date", 0) + fc.get("reject-missing-field", 0)
    cmd = "python3 ops/sample-data/generate.py"
    if children != DEFAULT_CHILDREN:
        cmd += f" --children {children}"
    if today.isoformat() != DEFAULT_TODAY:
        cmd += f" --today {today.isoformat()}"
    if seed != SEED:
        cmd += f" --seed {seed}"
    lines = [
        "# Sightline synthetic sample data",
        "",
        "Invented children of one local authority (Brent, DfE LA code 304), as its schools, GP",
        "practices, police, housing and LA would export them, with the faults real extracts have.",
        "Every name, NHS number and UPN is synthetic; NHS numbers start with 9 (the test range).",
        "",
        f"- Seed: {seed}; children: {children} (ages 2-17) in {st['families']} families; today: {today.isoformat()}",
        f"- Regenerate (from the repository root): `{cmd}` (add `--out DIR` to write elsewhere).",
        "  Output is byte-identical for the same arguments; the clock is never read.",
        f"- Attendance half terms: " + "; ".join(f"{n} {s}..{e}" for n, s, e in st["terms"])
        + "; full-term sessions possible per school: "
        + ", ".join(f"{u} {'/'.join(map(str, v))}" for u, v in st["sessions_possible_full_term"].items()) + ".",
        "",
        "## Files and record counts",
        "",
        "| file | records |",
        "|---|---|",
    ]
    for rel, n in st["files"].items():
        lines.append(f"| `{rel}` | {n} |")
    lines += [
        f"| `ground-truth.csv` (file, localRef, child) | {st['ground_truth_rows']} |",
        f"| `faults.csv` (file, line, localRef, child, fault, field) | {st['fault_rows']} |",
        "",
        "CSV files are RFC 4180 with CRLF line ends and a header row, UTF-8 without BOM; dates",
        "dd/mm/yyyy. Column mappings for the client are in `ops/mappings/`. NDJSON records follow",
        "DESIGN.md (\"Record kinds (v1)\"); absent optional values are omitted, never null.",
        "Attendance localRef = `Adno#Period Start` as written in the CSV (e.g. `000123#03/09/2026`).",
        "`line` in faults.csv is the physical line in the file (CSV header = line 1).",
        "",
        "## Faults (achieved)",
        "",
        f"- Name variant (typo: swapped/dropped letter; case; spacing/punctuation; diacritics), per record: "
        f"{_pct(st['name_faults'], st['named_records'])}",
        f"  - by kind: " + ", ".join(f"{k[5:]} {v}" for k, v in fc.items() if k.startswith("name-")),
        f"- GP records with an invalid NHS check digit: {_pct(st['nhs_invalid'], st['gp_records'])}",
        f"- School records with an invalid UPN check letter (per enrolment, carried by its attendance",
        f"  and exclusions): {_pct(st['upn_invalid'], st['school_records'])}",
        f"- Housing and police records with no NHS number or UPN (name + DOB + postcode only): "
        f"{_pct(st['no_strong_id'], st['housing_police_records'])}",
        f"- Children who moved (school holds the old postcode; GP, housing, police, LA the new): "
        f"{_pct(st['moved_children'], children)}",
        f"- Records the gateway must reject (required field blank or missing, or an impossible date): "
        f"{_pct(rejects, st['records'])}",
        f"  - missing field {fc.get('reject-missing-field', 0)}, bad date {fc.get('reject-bad-date', 0)}",
        "",
        "## The world (achieved)",
        "",
        f"- Children living out of area: {_pct(st['out_of_area_children'], children)}",
        f"- School-age children in area on roll: {_pct(st['school_age_in_area_on_roll'], st['school_age_in_area'])}",
        f"- Enrolments off roll: {_pct(st['enrolments_off_roll'], st['enrolments'])};"
        f" re-appeared at another school: {st['reappeared']}; temporary UPNs: {st['temporary_upns']}",
        f"- Children with a GP registration: {_pct(st['children_with_gp'], children)}",
        f"- Families with a tenancy: {_pct(st['families_with_tenancy'], st['families'])}",
        f"- Children with police notifications: {_pct(st['children_with_police'], children)}",
        f"- Children on an LA register: {_pct(st['children_on_register'], children)}",
        f"- Attendance records persistently absent (>=10%): {_pct(st['persistent'], st['attendance_records'])};"
        f" severely (>=50%): {_pct(st['severe'], st['attendance_records'])}",
        f"- Enrolments with an exclusion (besides permanent): {_pct(st['children_excluded_on_roll'], st['enrolments'])}",
        f"- Enrolments flagged young carer: {_pct(st['enrolments_young_carer'], st['enrolments'])};"
        f" part-time timetable: {_pct(st['enrolments_part_time'], st['enrolments'])}",
        f"- GP carers registers (`youngCarer: true` on the child's latest GP registration; omitted when not):"
        f" {st['gp_young_carer_records']} records",
        f"  - young carers (school flag) with a GP registration: {_pct(st['gp_young_carer_children'], st['young_carers_with_gp'])}",
        f"  - pupils their school records as not young carers, with a GP: {_pct(st['gp_only_young_carers'], st['not_young_carer_pupils_with_gp'])}",
        f"  - the young-carers report should find {st['young_carers_report_expected']} of these: on roll now, and the GP and"
        f" current enrolment records both accepted (no invalid NHS number or UPN, not spoiled)",
        "",
    ]
    with open(os.path.join(out_dir, "MANIFEST.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Deterministic synthetic sample data for Sightline.")
    ap.add_argument("--children", type=int, default=DEFAULT_CHILDREN, help="number of children (default 2000)")
    ap.add_argument("--out", default=HERE, help="output folder (default: this script's folder)")
    ap.add_argument("--today", default=DEFAULT_TODAY, help="the extract date, YYYY-MM-DD (default 2026-11-20)")
    ap.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        today = dt.date.fromisoformat(args.today)
    except ValueError:
        ap.error(f"--today {args.today!r} is not a date in the form YYYY-MM-DD")
    if args.children < 1:
        ap.error("--children must be at least 1")
    st = generate(children=args.children, out_dir=args.out, today=today, seed=args.seed)
    print(f"wrote {st['records']} records for {args.children} children to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
