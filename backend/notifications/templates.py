"""Notification texts in Korean and English, and the helpers that fill them in.

A template names its category (what the worker's preferences switch on and off) and whether it
is urgent (security and payout-failure messages ignore quiet hours). Parameters are plain values
or {"ko", "en"} texts; `render` fills both languages, the feed shows the worker's locale and a
push goes out in the locale the worker has when it is sent.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from backend.i18n import LOCALES, localize

# Categories a worker can switch off for push (the feed always gets every notification).
CATEGORIES = ("training", "certification", "tasks", "levels", "payouts", "reminders")
# Always pushed, never switched off.
MANDATORY_CATEGORIES = ("security",)
DEFAULT_TIMEZONE = "Asia/Seoul"


@dataclass(frozen=True)
class Template:
    category: str
    title: dict
    body: dict
    urgent: bool = False  # ignores quiet hours


TEMPLATES: dict[str, Template] = {
    "welcome": Template(
        "training",
        {"ko": "LabelPath에 오신 것을 환영해요", "en": "Welcome to LabelPath"},
        {"ko": "교육 과정을 마치고 인증 시험에 합격하면 유료 작업이 열려요.",
         "en": "Finish a course and pass its exam to unlock paid work."},
    ),
    "training.exam_open": Template(
        "training",
        {"ko": "과정 수료! 시험이 열렸어요", "en": "Course completed: your exam is open"},
        {"ko": "{skill} 레벨 {level} 인증 시험에 지금 응시할 수 있어요.",
         "en": "You can now take the {skill} level {level} certification exam."},
    ),
    "certification.passed": Template(
        "certification",
        {"ko": "시험 합격! 인증서가 발급되었어요", "en": "You passed! Your certificate is ready"},
        {"ko": "{skill} 레벨 {level} 인증서({code})가 발급되었어요. 유효기간: {expires}까지.",
         "en": "Your {skill} level {level} certificate ({code}) has been issued. Valid until {expires}."},
    ),
    "certification.failed": Template(
        "certification",
        {"ko": "이번 시험은 합격하지 못했어요", "en": "You did not pass this time"},
        {"ko": "{retake}부터 다시 응시할 수 있어요. 틀린 부분을 복습해 보세요.",
         "en": "You can retake the exam from {retake}. Review what you missed in the meantime."},
    ),
    "certification.failed_final": Template(
        "certification",
        {"ko": "이번 시험은 합격하지 못했어요", "en": "You did not pass this time"},
        {"ko": "이 시험의 응시 기회를 모두 사용했어요.",
         "en": "You have used every attempt for this exam."},
    ),
    "reminders.certificate_expiring": Template(
        "reminders",
        {"ko": "인증서 만료 {days}일 전", "en": "Your certificate expires in {days} days"},
        {"ko": "{skill} 레벨 {level} 인증서({code})가 {expires}에 만료돼요. 재인증 시험을 준비하세요.",
         "en": "Your {skill} level {level} certificate ({code}) expires on {expires}. "
               "Take the exam again to keep your level."},
    ),
    "levels.up": Template(
        "levels",
        {"ko": "레벨 업!", "en": "Level up!"},
        {"ko": "{skill} 레벨이 {old_level}에서 {new_level}(으)로 올랐어요. 새 작업을 확인해 보세요.",
         "en": "Your {skill} level went from {old_level} to {new_level}. Check the new work."},
    ),
    "levels.down": Template(
        "levels",
        {"ko": "레벨이 조정되었어요", "en": "Your level has changed"},
        {"ko": "{skill} 레벨이 {old_level}에서 {new_level}(으)로 바뀌었어요. 사유: {reason}",
         "en": "Your {skill} level went from {old_level} to {new_level}. Reason: {reason}"},
    ),
    "levels.suspended": Template(
        "levels",
        {"ko": "인증이 만료되어 레벨이 정지되었어요", "en": "Certificate lapsed: level suspended"},
        {"ko": "{skill} 인증서가 더 이상 유효하지 않아 레벨이 정지되었어요. 시험에 다시 합격하면 복구돼요.",
         "en": "Your {skill} certificate is no longer valid, so your level is suspended until you "
               "pass the exam again."},
    ),
    "tasks.available": Template(
        "tasks",
        {"ko": "새 작업이 열렸어요", "en": "New tasks are available"},
        {"ko": "지금 할 수 있는 {skill} 작업이 {slots}건 있어요.",
         "en": "{slots} {skill} tasks are open for you now."},
    ),
    "tasks.rejected": Template(
        "tasks",
        {"ko": "제출한 작업이 반려되었어요", "en": "A submission was rejected"},
        {"ko": "반려 사유: {reason}", "en": "Reason: {reason}"},
    ),
    "tasks.appeal_upheld": Template(
        "tasks",
        {"ko": "이의 신청이 받아들여지지 않았어요", "en": "Your appeal was not accepted"},
        {"ko": "다른 검수자가 다시 보았지만 반려가 유지되었어요. 반려 사유: {reason}",
         "en": "Another reviewer looked again and the rejection stands. Reason: {reason}"},
    ),
    "tasks.appeal_overturned": Template(
        "tasks",
        {"ko": "이의 신청이 받아들여졌어요", "en": "Your appeal was accepted"},
        {"ko": "반려가 취소되어 이 작업이 인정되고 보상도 지급돼요.",
         "en": "The rejection was reversed: the work counts and its reward is yours."},
    ),
    "tasks.paused": Template(
        "tasks",
        {"ko": "{project} 작업이 잠시 멈췄어요", "en": "Paused on {project}"},
        {"ko": "{reason}", "en": "{reason}"},
    ),
    "tasks.resumed": Template(
        "tasks",
        {"ko": "{project} 작업을 다시 할 수 있어요", "en": "You can work on {project} again"},
        {"ko": "관리자가 작업 중지를 해제했어요.", "en": "A manager lifted the pause."},
    ),
    "payouts.paid": Template(
        "payouts",
        {"ko": "지급이 완료되었어요", "en": "Payout sent"},
        {"ko": "{amount}이(가) 지급 계좌로 송금되었어요.", "en": "{amount} has been paid out to your account."},
    ),
    "payouts.failed": Template(
        "payouts",
        {"ko": "지급에 실패했어요", "en": "Payout failed"},
        {"ko": "{amount} 지급에 실패했어요 ({reason}). 지급 계좌 정보를 확인해 주세요.",
         "en": "Your payout of {amount} failed ({reason}). Please check your payout account."},
        urgent=True,
    ),
    "security.device_moved": Template(
        "security",
        {"ko": "다른 계정이 회원님의 기기에 로그인했어요", "en": "Another account signed in on your device"},
        {"ko": "{platform} 기기에서 이 계정의 푸시 알림이 해제되었어요. 본인이 한 일이 아니라면 비밀번호를 바꿔 주세요.",
         "en": "Push notifications for this account were turned off on an {platform} device. "
               "If this wasn't you, change your password."},
        urgent=True,
    ),
}


class _Params(dict):
    def __missing__(self, key):  # a missing parameter shows as empty, never breaks the text
        return ""


def render(kind: str, params: dict | None = None) -> tuple[dict, dict]:
    """The template's (title, body), each {"ko": …, "en": …}, with the parameters filled in."""
    template = TEMPLATES[kind]
    params = params or {}
    title, body = {}, {}
    for locale in LOCALES:
        values = _Params({name: localize(value, locale) if isinstance(value, dict) else value
                          for name, value in params.items()})
        title[locale] = template.title[locale].format_map(values)
        body[locale] = template.body[locale].format_map(values)
    return title, body


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or DEFAULT_TIMEZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)


_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_time(when: dt.datetime, tz_name: str | None) -> dict:
    """A moment as the worker reads it, in their timezone: {"ko": "11월 3일 14:00", "en": "Nov 3, 14:00"}."""
    local = when.astimezone(zone(tz_name))
    hm = f"{local.hour:02d}:{local.minute:02d}"
    return {"ko": f"{local.year}년 {local.month}월 {local.day}일 {hm}",
            "en": f"{_EN_MONTHS[local.month - 1]} {local.day}, {local.year} {hm}"}


def local_date(when: dt.datetime, tz_name: str | None) -> dict:
    local = when.astimezone(zone(tz_name))
    return {"ko": f"{local.year}년 {local.month}월 {local.day}일",
            "en": f"{_EN_MONTHS[local.month - 1]} {local.day}, {local.year}"}


# Digits after the decimal point of ISO 4217 currencies that differ from 2.
_ZERO_DECIMAL = {"KRW", "JPY", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"}
_SYMBOLS = {"KRW": "₩", "USD": "$", "JPY": "¥", "EUR": "€"}


def money(amount: int, currency: str) -> dict:
    """Integer minor units as a person reads them: {"ko": "12,000원", "en": "₩12,000"}."""
    currency = (currency or "KRW").upper()
    digits = 0 if currency in _ZERO_DECIMAL else 2
    whole, cents = divmod(abs(int(amount)), 10 ** digits)
    number = ("-" if amount < 0 else "") + f"{whole:,}" + (f".{cents:0{digits}d}" if digits else "")
    if currency == "KRW":
        return {"ko": f"{number}원", "en": f"₩{number}"}
    symbol = _SYMBOLS.get(currency)
    text = f"{symbol}{number}" if symbol else f"{number} {currency}"
    return {"ko": text, "en": text}
